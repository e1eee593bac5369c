package workflows_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// histories returns every recorded history under testdata/v*/, of every
// version.
func histories(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("testdata", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".json") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories under testdata/")
	}
	return files
}

// TestHistoriesCoverPaths fails when a version of OrderSaga, from 1 on,
// has a path (historyCases) without a recorded history, in either
// activity mode from the version that has both: the current version's
// histories are recorded by TestRecordHistories.
func TestHistoriesCoverPaths(t *testing.T) {
	for v := 1; v <= workflows.CurrentVersion; v++ {
		dirs := []string{historyDir(v, workflows.ActivitiesRegular)}
		if v >= workflows.LocalModeVersion {
			dirs = append(dirs, historyDir(v, workflows.ActivitiesLocal))
		}
		for _, dir := range dirs {
			for _, hc := range historyCases {
				if hc.since > v {
					continue
				}
				file := filepath.Join(dir, hc.path+".json")
				if _, err := os.Stat(file); err != nil {
					t.Errorf("path %s has no recorded history in %s: %v", hc.path, dir, err)
				}
			}
		}
	}
}

// TestReplay replays the recorded histories against the current OrderSaga:
// a change that makes the workflow issue different commands for the same
// history fails here. Record new histories only for a deliberate, versioned
// change (see TestRecordHistories).
func TestReplay(t *testing.T) {
	for _, file := range histories(t) {
		t.Run(file, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(workflows.OrderSaga)
			if err := r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), file); err != nil {
				t.Fatalf("replay %s: %v", file, err)
			}
		})
	}
}

// reorderedSaga charges before it reserves: the kind of edit that breaks
// running workflows.
func reorderedSaga(ctx workflow.Context, o shop.Order) (shop.Outcome, error) {
	var pay *activities.Payment
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	err := workflow.ExecuteActivity(ctx, pay.Charge, activities.InputFor(o)).Get(ctx, nil)
	return shop.Outcome{OrderID: o.ID, Status: shop.StatusCompleted}, err
}

// TestReplayDetectsNondeterminism shows the replay test can fail: the same
// histories replayed against a reordered workflow of the same name are refused.
func TestReplayDetectsNondeterminism(t *testing.T) {
	for _, file := range histories(t) {
		t.Run(file, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(reorderedSaga, workflow.RegisterOptions{Name: "OrderSaga"})
			if err := r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), file); err == nil {
				t.Fatalf("replaying %s against a reordered workflow succeeded, want a nondeterminism error", file)
			}
		})
	}
}
