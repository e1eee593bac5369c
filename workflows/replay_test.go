package workflows_test

import (
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

func histories(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, f := range legacyHistories {
		files = append(files, filepath.Join("testdata", f))
	}
	for _, hc := range historyCases {
		files = append(files, filepath.Join("testdata", hc.file))
	}
	return files
}

// TestReplay replays the recorded histories against the current OrderSaga:
// a change that makes the workflow issue different commands for the same
// history fails here. Record new histories only for a deliberate, versioned
// change (see TestRecordHistories).
func TestReplay(t *testing.T) {
	for _, file := range histories(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
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
		t.Run(filepath.Base(file), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(reorderedSaga, workflow.RegisterOptions{Name: "OrderSaga"})
			if err := r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), file); err == nil {
				t.Fatalf("replaying %s against a reordered workflow succeeded, want a nondeterminism error", file)
			}
		})
	}
}
