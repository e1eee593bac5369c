package workflows_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// TestRepairRetried: a repair called again while the first one runs (a
// retry after a lost reply) is the same update and returns its result,
// not a refusal; the workflow accepts one repair.
func TestRepairRetried(t *testing.T) {
	ctx := context.Background()
	st := startRealStack(t)
	rdb, c, catalog := st.rdb, st.client, st.catalog
	w := worker.New(c, workflows.TaskQueue, workflows.WorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&slowRepair{}}}))
	workflows.Register(w, activities.New(rdb, activities.OrchestrationPrefix, catalog), workflows.Config{Catalog: catalog})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	e := workflows.NewEngine(c, catalog)
	e.FailedPoll = 100 * time.Millisecond
	o := orderFor(t, "repair-retried", []string{"shipping", "refund:decline"})
	if err := e.Place(ctx, o); err != nil {
		t.Fatal(err)
	}
	if out, err := e.Wait(ctx, o.ID); err != nil || out.Status != shop.StatusFailed {
		t.Fatalf("wait: %+v %v, want FAILED", out, err)
	}
	for i := range 2 {
		if err := e.Repair(ctx, o.ID); err != nil {
			t.Fatalf("repair call %d: %v", i+1, err)
		}
	}
	if out, err := e.Wait(ctx, o.ID); err != nil || out.Status != shop.StatusCompensated {
		t.Fatalf("after the repair: %+v %v, want COMPENSATED", out, err)
	}
	accepted := 0
	it := c.GetWorkflowHistory(ctx, shop.WorkflowID(o.ID), "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes(); a != nil {
			accepted++
			if id := a.GetAcceptedRequest().GetMeta().GetUpdateId(); id != workflows.RepairUpdateID(1) {
				t.Errorf("update ID %q, want %q", id, workflows.RepairUpdateID(1))
			}
		}
	}
	if accepted != 1 {
		t.Errorf("%d repairs accepted, want 1", accepted)
	}
	if err := e.Repair(ctx, o.ID); !errors.Is(err, shop.ErrRepaired) {
		t.Errorf("repair after the order closed: %v, want %v", err, shop.ErrRepaired)
	}
}

// slowRepair makes the refund of a repair take two seconds, so that the
// repair is still running when it is asked again.
type slowRepair struct {
	interceptor.WorkerInterceptorBase
}

func (*slowRepair) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &slowRepairInbound{interceptor.ActivityInboundInterceptorBase{Next: next}}
}

type slowRepairInbound struct {
	interceptor.ActivityInboundInterceptorBase
}

func (i *slowRepairInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	if oi, ok := in.Args[0].(activities.OrderInput); ok && oi.Repair && activity.GetInfo(ctx).ActivityType.Name == "Refund" {
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	return i.Next.ExecuteActivity(ctx, in)
}
