package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ordersaga/ordersaga/internal/platform/buildinfo"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
)

// DefaultDeploymentName is the Worker Deployment the worker joins unless
// told otherwise.
const DefaultDeploymentName = "ordersaga"

// SetCurrent says when a worker makes its build the current version of its
// Worker Deployment, the one the server hands new and AutoUpgrade
// workflows to.
type SetCurrent string

const (
	// SetCurrentAuto makes the build current unless the current version
	// was built from a newer commit (build IDs start with the commit's
	// time, see buildinfo.BuildID): a new build takes over when it starts,
	// and an old worker restarted later never takes the deployment back.
	SetCurrentAuto SetCurrent = "auto"
	// SetCurrentAlways makes the build current whatever is current.
	SetCurrentAlways SetCurrent = "always"
	// SetCurrentNever leaves the deployment to an operator, e.g. `temporal
	// worker deployment set-current-version`.
	SetCurrentNever SetCurrent = "never"
)

// ParseSetCurrent reads auto, always or never.
func ParseSetCurrent(s string) (SetCurrent, error) {
	switch v := SetCurrent(s); v {
	case SetCurrentAuto, SetCurrentAlways, SetCurrentNever:
		return v, nil
	}
	return "", fmt.Errorf("%q is not auto, always or never", s)
}

// Deployment is a worker's place in Temporal's Worker Versioning: the
// deployment it belongs to and the build it runs. The zero Deployment
// (no Name) is an unversioned worker.
type Deployment struct {
	Name       string
	BuildID    string
	SetCurrent SetCurrent
}

// NewDeployment is the deployment name with this binary's build ID
// (buildinfo.BuildID) and SetCurrentAuto.
func NewDeployment(name string) Deployment {
	return Deployment{Name: name, BuildID: buildinfo.BuildID(), SetCurrent: SetCurrentAuto}
}

// Version is the deployment version as Temporal names it.
func (d Deployment) Version() worker.WorkerDeploymentVersion {
	return worker.WorkerDeploymentVersion{DeploymentName: d.Name, BuildID: d.BuildID}
}

// WorkerOptions returns opts with Worker Versioning on for d. OrderSaga is
// AutoUpgrade: a running order moves to the current version at its next
// workflow task, which the workflow's version markers (workflow.GetVersion)
// make safe; a worker is only handed tasks of its own version, so an old
// worker never meets a history written by newer code.
func (d Deployment) WorkerOptions(opts worker.Options) worker.Options {
	if d.Name == "" {
		return opts
	}
	opts.DeploymentOptions = worker.DeploymentOptions{
		UseVersioning:             true,
		Version:                   d.Version(),
		DefaultVersioningBehavior: workflow.VersioningBehaviorAutoUpgrade,
	}
	return opts
}

// Promote makes d's build the deployment's current version as d.SetCurrent
// says, retrying until the server knows the version (its pollers have
// reached it), for up to within. It reports whether the build is current
// when it returns.
func (d Deployment) Promote(ctx context.Context, c client.Client, within time.Duration) (current bool, err error) {
	if d.Name == "" || d.SetCurrent == SetCurrentNever {
		return false, nil
	}
	h := c.WorkerDeploymentClient().GetHandle(d.Name)
	var last error
	err = poll.For(ctx, within, poll.Every(250*time.Millisecond), func(ctx context.Context) (bool, error) {
		desc, err := h.Describe(ctx, client.WorkerDeploymentDescribeOptions{})
		var notFound *serviceerror.NotFound
		if err != nil && !errors.As(err, &notFound) {
			last = err
			return false, nil // the server is busy or restarting: again
		}
		cur := desc.Info.RoutingConfig.CurrentVersion
		if cur != nil && cur.BuildID == d.BuildID {
			current = true
			return true, nil
		}
		if !d.takesOver(cur) {
			return true, nil
		}
		_, last = h.SetCurrentVersion(ctx, client.WorkerDeploymentSetCurrentVersionOptions{BuildID: d.BuildID, ConflictToken: desc.ConflictToken})
		return false, nil // read it back on the next round; refused while the server does not know the version yet
	})
	if err != nil {
		return current, fmt.Errorf("make build %s the current version of deployment %s: %w (last answer: %v)", d.BuildID, d.Name, err, last)
	}
	return current, nil
}

// IfCurrent returns d when its deployment has a current version, and the
// zero Deployment (an unversioned worker) when it has none or does not
// exist. A worker that runs OrderSaga beside the deployment's own (the
// experiments' in-process workers) joins the deployment only where
// versioned workers have taken the task queue over: there an unversioned
// worker would be handed no task.
func (d Deployment) IfCurrent(ctx context.Context, c client.Client) (Deployment, error) {
	desc, err := c.WorkerDeploymentClient().GetHandle(d.Name).Describe(ctx, client.WorkerDeploymentDescribeOptions{})
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return Deployment{}, nil
	case err != nil:
		return Deployment{}, fmt.Errorf("describe worker deployment %s: %w", d.Name, err)
	case desc.Info.RoutingConfig.CurrentVersion == nil:
		return Deployment{}, nil
	}
	return d, nil
}

// takesOver says whether d's build should replace cur as the current
// version.
func (d Deployment) takesOver(cur *worker.WorkerDeploymentVersion) bool {
	if cur == nil || d.SetCurrent == SetCurrentAlways {
		return true
	}
	ours, ok1 := buildinfo.BuildIDTime(d.BuildID)
	theirs, ok2 := buildinfo.BuildIDTime(cur.BuildID)
	return !ok1 || !ok2 || !theirs.After(ours)
}
