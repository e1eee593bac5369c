package workflows

import (
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

func TestDeploymentTakesOver(t *testing.T) {
	const older, newer = "20261201T100000Z-aaaaaaaaaaaa", "20261202T100000Z-bbbbbbbbbbbb"
	for _, c := range []struct {
		ours, current string // current "" means none
		set           SetCurrent
		want          bool
	}{
		{newer, "", SetCurrentAuto, true},
		{newer, older, SetCurrentAuto, true},
		{older, newer, SetCurrentAuto, false}, // an old worker restarted late never takes the deployment back
		{older, newer, SetCurrentAlways, true},
		{"devel-0123456789ab", newer, SetCurrentAuto, true},
		{newer, "devel-0123456789ab", SetCurrentAuto, true},
		{newer, newer + "-modified-0123456789ab", SetCurrentAuto, true},
	} {
		var cur *worker.WorkerDeploymentVersion
		if c.current != "" {
			cur = &worker.WorkerDeploymentVersion{DeploymentName: "d", BuildID: c.current}
		}
		if got := (Deployment{Name: "d", BuildID: c.ours, SetCurrent: c.set}).takesOver(cur); got != c.want {
			t.Errorf("%s over %q (%s): %v, want %v", c.ours, c.current, c.set, got, c.want)
		}
	}
}

func TestDeploymentWorkerOptions(t *testing.T) {
	if got := (Deployment{}).WorkerOptions(worker.Options{}); got.DeploymentOptions.UseVersioning {
		t.Error("the zero Deployment turned versioning on")
	}
	got := Deployment{Name: "d", BuildID: "b"}.WorkerOptions(worker.Options{}).DeploymentOptions
	if !got.UseVersioning || got.Version.DeploymentName != "d" || got.Version.BuildID != "b" ||
		got.DefaultVersioningBehavior != workflow.VersioningBehaviorAutoUpgrade {
		t.Errorf("DeploymentOptions = %+v, want versioned as d/b, AutoUpgrade", got)
	}
	for _, s := range []string{"auto", "always", "never"} {
		if _, err := ParseSetCurrent(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseSetCurrent("sometimes"); err == nil {
		t.Error("ParseSetCurrent accepted sometimes")
	}
}
