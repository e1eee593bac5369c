package workflows_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// TestLocalActivityBacksOff runs the saga with local activities on a real
// server, with a workflow task timeout of one second and a release that
// fails six times: the backoffs longer than the workflow task timeout
// become workflow timers, the release still succeeds, and the order ends
// COMPENSATED with what it took given back.
func TestLocalActivityBacksOff(t *testing.T) {
	ctx := context.Background()
	st := startRealStack(t)
	rdb, c, catalog := st.rdb, st.client, st.catalog
	w := workflows.NewConfiguredWorker(c, rdb, workflows.Config{Catalog: catalog, Activities: workflows.ActivitiesLocal}, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	stockBefore := readStock(t, rdb)
	o := orderFor(t, "local-backoff", []string{"payment", "release:transient:6"}).Priced(catalog)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: shop.WorkflowID(o.ID), TaskQueue: workflows.TaskQueue, WorkflowTaskTimeout: time.Second,
	}, workflows.WorkflowType, o)
	if err != nil {
		t.Fatal(err)
	}
	var out shop.Outcome
	if err := run.Get(ctx, &out); err != nil {
		t.Fatalf("result: %v", err)
	}
	if out.Status != shop.StatusCompensated || !slices.Equal(out.Compensated, []shop.Step{shop.StepInventory}) {
		t.Errorf("outcome %+v, want COMPENSATED with inventory released", out)
	}
	if got := readStock(t, rdb); got != stockBefore {
		t.Errorf("stock %d, want %d back", got, stockBefore)
	}
	timers, markers, scheduled := 0, 0, 0
	it := c.GetWorkflowHistory(ctx, shop.WorkflowID(o.ID), "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch ev.GetEventType() {
		case enums.EVENT_TYPE_TIMER_STARTED:
			timers++
		case enums.EVENT_TYPE_MARKER_RECORDED:
			markers++
		case enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			scheduled++
		}
	}
	// Backoffs 0.1, 0.2, 0.4, 0.8, 1.6 and 3.2 s: the last two outlast the
	// workflow task timeout (on a loaded machine the attempts of one
	// workflow task may merge, so at least one timer).
	if timers < 1 || scheduled != 0 || markers < 4 {
		t.Errorf("history has %d timers, %d markers, %d scheduled activities; want the long backoffs as timers and only local activities", timers, markers, scheduled)
	}
}
