package workflows_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// The engine runs sagas, and over its Redis is what the invariant checks read.
var (
	_ shop.Engine   = (*workflows.Engine)(nil)
	_ verify.Source = (*workflows.Source)(nil)
)

const (
	e2eSKU = "mug"
	e2eQty = 3
)

// stack is one Temporal dev server, one redis-server, a worker and an engine.
type stack struct {
	engine  *workflows.Engine
	client  client.Client
	rdb     redis.UniversalClient
	catalog shop.Catalog
	server  *testenv.TemporalServer
}

func startStack(t *testing.T) *stack {
	t.Helper()
	rsrv := testenv.StartRedis(t)
	tsrv := testenv.StartTemporal(t)
	rdb := rsrv.Client()
	catalog := shop.DefaultCatalog()
	if err := workflows.Seed(context.Background(), rdb, catalog); err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: tsrv.Address, Namespace: tsrv.Namespace, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("dial Temporal: %v", err)
	}
	t.Cleanup(c.Close)
	w := workflows.NewWorker(c, rdb, catalog, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)
	e := workflows.NewEngine(c, catalog)
	e.FailedPoll = 100 * time.Millisecond
	return &stack{engine: e, client: c, rdb: rdb, catalog: catalog, server: tsrv}
}

func (s *stack) order(t *testing.T, id string, specs ...string) shop.Order {
	t.Helper()
	plan, err := shop.ParseFaultPlan(specs)
	if err != nil {
		t.Fatal(err)
	}
	return shop.Order{ID: id, Customer: "grace", Items: []shop.Item{{SKU: e2eSKU, Quantity: e2eQty}}, Faults: plan}
}

// books is the part of the participants' state an order can change.
type books struct {
	stock    int64
	netCents int64
	charges  int64
	refunds  int64
}

func (s *stack) books(t *testing.T) books {
	t.Helper()
	ctx := context.Background()
	st, err := activities.Stock(ctx, s.rdb, activities.OrchestrationPrefix, s.catalog)
	if err != nil {
		t.Fatal(err)
	}
	l, err := activities.ReadLedger(ctx, s.rdb, activities.OrchestrationPrefix)
	if err != nil {
		t.Fatal(err)
	}
	return books{stock: st[e2eSKU], netCents: l.ChargedCents - l.RefundedCents, charges: l.Charges, refunds: l.Refunds}
}

func (s *stack) run(t *testing.T, o shop.Order) shop.Outcome {
	t.Helper()
	ctx := context.Background()
	if err := s.engine.Place(ctx, o); err != nil {
		t.Fatalf("place: %v", err)
	}
	out, err := s.engine.Wait(ctx, o.ID)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return out
}

func (s *stack) history(t *testing.T, orderID string) []shop.Event {
	t.Helper()
	h, err := s.engine.History(context.Background(), orderID)
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	return h
}

// find returns the index of the first event at or after from that matches.
func find(h []shop.Event, from int, name string, op shop.Op) int {
	for i := from; i < len(h); i++ {
		if h[i].Name == name && h[i].Op == op {
			return i
		}
	}
	return -1
}

// closings returns the closing activity entries as "op:result", in order.
func closings(h []shop.Event) []string {
	var out []string
	for _, e := range h {
		switch e.Name {
		case "ActivityTaskCompleted", "ActivityTaskFailed", "ActivityTaskTimedOut", "ActivityTaskCanceled":
			out = append(out, string(e.Op)+":"+e.Result)
		}
	}
	return out
}

func TestEndToEnd(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()

	t.Run("completes", func(t *testing.T) {
		before := s.books(t)
		o := s.order(t, "e2e-ok")
		out := s.run(t, o)
		if out.Status != shop.StatusCompleted || !slices.Equal(out.Steps, shop.Steps) || len(out.Compensated) != 0 || out.OrderID != o.ID {
			t.Fatalf("outcome = %+v, want COMPLETED with every step", out)
		}
		after := s.books(t)
		if after.stock != before.stock-e2eQty || after.netCents != before.netCents+o.Total(s.catalog) || after.charges != before.charges+1 {
			t.Errorf("books went from %+v to %+v, want %d %s taken and %d cents charged once", before, after, e2eQty, e2eSKU, o.Total(s.catalog))
		}

		p, err := s.engine.Status(ctx, o.ID)
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		if p.Status != shop.StatusCompleted || p.Current != "" || !slices.Equal(p.Steps, shop.Steps) {
			t.Errorf("status = %+v, want COMPLETED with every step", p)
		}

		h := s.history(t, o.ID)
		if len(h) == 0 || h[0].Name != "WorkflowExecutionStarted" || h[len(h)-1].Name != "WorkflowExecutionCompleted" {
			t.Fatalf("history = %+v, want it to run from WorkflowExecutionStarted to WorkflowExecutionCompleted", h)
		}
		if want := []string{"reserve:ok", "check:ok", "charge:ok", "schedule:ok", "notify:ok"}; !slices.Equal(closings(h), want) {
			t.Errorf("activity results = %v, want %v", closings(h), want)
		}
		for _, e := range h {
			if e.Source != workflows.SourceWorkflow && e.Source != workflows.SourceWorker {
				t.Errorf("entry %s has source %q", e.Name, e.Source)
			}
			if e.Name == "ActivityTaskScheduled" && e.Source != workflows.SourceWorkflow {
				t.Errorf("ActivityTaskScheduled of %s has source %q, want %q", e.Op, e.Source, workflows.SourceWorkflow)
			}
			if e.Name == "ActivityTaskCompleted" && e.Source != workflows.SourceWorker {
				t.Errorf("ActivityTaskCompleted of %s has source %q, want %q", e.Op, e.Source, workflows.SourceWorker)
			}
			if e.Duration < 0 {
				t.Errorf("entry %s of %s has negative duration %s", e.Name, e.Op, e.Duration)
			}
		}
		if !strings.HasPrefix(h[len(h)-1].Detail, string(shop.StatusCompleted)) {
			t.Errorf("completion detail = %q, want it to start with COMPLETED", h[len(h)-1].Detail)
		}
	})

	t.Run("payment decline compensates", func(t *testing.T) {
		before := s.books(t)
		o := s.order(t, "e2e-decline", "payment")
		out := s.run(t, o)
		if out.Status != shop.StatusCompensated || out.FailedStep != shop.StepPayment ||
			!slices.Equal(out.Steps, []shop.Step{shop.StepInventory, shop.StepFraud}) || !slices.Equal(out.Compensated, []shop.Step{shop.StepInventory}) ||
			!strings.Contains(out.Reason, activities.ErrTypePaymentDeclined) {
			t.Fatalf("outcome = %+v, want COMPENSATED at payment with inventory undone", out)
		}
		if after := s.books(t); after != before {
			t.Errorf("books went from %+v to %+v, want them unchanged", before, after)
		}

		h := s.history(t, o.ID)
		failed := find(h, 0, "ActivityTaskFailed", shop.OpCharge)
		if failed < 0 {
			t.Fatalf("history has no failed charge: %+v", h)
		}
		if h[failed].Result != workflows.ResultFail || !strings.Contains(h[failed].Detail, activities.ErrTypePaymentDeclined) {
			t.Errorf("failed charge entry = %+v, want result fail naming %s", h[failed], activities.ErrTypePaymentDeclined)
		}
		released := find(h, failed, "ActivityTaskCompleted", shop.OpRelease)
		if released < 0 {
			t.Fatalf("history has no completed release after the failed charge: %+v", h)
		}
		if h[released].Result != workflows.ResultOK || h[released].Source != workflows.SourceWorker {
			t.Errorf("release entry = %+v, want result ok from the worker", h[released])
		}
		if want := []string{"reserve:ok", "check:ok", "charge:fail", "release:ok", "notify:ok"}; !slices.Equal(closings(h), want) {
			t.Errorf("activity results = %v, want %v", closings(h), want)
		}
	})

	t.Run("transient fault is retried", func(t *testing.T) {
		o := s.order(t, "e2e-transient", "payment:transient:2")
		if out := s.run(t, o); out.Status != shop.StatusCompleted {
			t.Fatalf("outcome = %+v, want COMPLETED", out)
		}
		h := s.history(t, o.ID)
		started := find(h, 0, "ActivityTaskStarted", shop.OpCharge)
		if started < 0 {
			t.Fatalf("history has no started charge: %+v", h)
		}
		if e := h[started]; e.Result != workflows.ResultRetry || !strings.Contains(e.Detail, "attempt 3") || !strings.Contains(e.Detail, activities.ErrTypeTransient) {
			t.Errorf("started charge entry = %+v, want a retry on attempt 3 after a %s", e, activities.ErrTypeTransient)
		}
	})

	t.Run("compensation failure is FAILED until repaired", func(t *testing.T) {
		before := s.books(t)
		o := s.order(t, "e2e-refund-declined", "shipping", "refund:decline")
		out := s.run(t, o)
		if out.Status != shop.StatusFailed || out.FailedStep != shop.StepShipping ||
			!slices.Equal(out.Compensated, []shop.Step{shop.StepInventory}) ||
			!strings.Contains(out.Reason, activities.ErrTypeRefundFailed) {
			t.Fatalf("outcome = %+v, want FAILED at shipping, refund failed, inventory undone", out)
		}
		after := s.books(t)
		if after.stock != before.stock || after.netCents != before.netCents+o.Total(s.catalog) {
			t.Errorf("books went from %+v to %+v, want stock back and the charge standing", before, after)
		}
		p, err := s.engine.Status(ctx, o.ID)
		if err != nil || p.Status != shop.StatusFailed || p.Reason != out.Reason {
			t.Errorf("status = %+v, %v; want FAILED with the reason of the outcome", p, err)
		}
		h := s.history(t, o.ID)
		for len(h) > 0 && h[len(h)-1].Op == shop.OpNotify { // the customer is told after
			h = h[:len(h)-1]
		}
		if last := h[len(h)-1]; last.Result != workflows.ResultFail || !strings.Contains(last.Detail, "FAILED") || !strings.Contains(last.Detail, "repair") {
			t.Errorf("last history entry = %+v, want the order FAILED, waiting for a repair", last)
		}
		if d := s.describe(t, o.ID); d.status != "Running" || d.orderStatus != "FAILED" || d.failedStep != "shipping" {
			t.Errorf("workflow %+v, want it running, OrderStatus FAILED, OrderFailedStep shipping", d)
		}

		if err := s.engine.Repair(ctx, o.ID); err != nil {
			t.Fatalf("repair: %v", err)
		}
		out = s.wait(t, o.ID)
		if out.Status != shop.StatusCompensated || !slices.Equal(out.Compensated, []shop.Step{shop.StepInventory, shop.StepPayment}) ||
			!strings.Contains(out.Reason, activities.ErrTypeShipmentFailed) || strings.Contains(out.Reason, activities.ErrTypeRefundFailed) {
			t.Fatalf("outcome after the repair = %+v, want COMPENSATED, inventory then payment undone, for the shipment's failure", out)
		}
		if got := s.books(t); got.stock != before.stock || got.netCents != before.netCents || got.refunds != before.refunds+1 {
			t.Errorf("books went from %+v to %+v, want stock and money back, refunded once", before, got)
		}
		h = s.history(t, o.ID)
		accepted := find(h, 0, "WorkflowExecutionUpdateAccepted", "")
		if accepted < 0 || find(h, accepted, "ActivityTaskCompleted", shop.OpRefund) < 0 {
			t.Fatalf("history has no repair accepted and refund done after it: %+v", h)
		}
		if e := h[find(h, accepted, "ActivityTaskCompleted", shop.OpRefund)]; e.Result != workflows.ResultRepaired {
			t.Errorf("repaired refund entry = %+v, want result %s", e, workflows.ResultRepaired)
		}
		if err := verify.CompensationOrder(h); err != nil {
			t.Errorf("compensation order of the repaired order: %v", err)
		}
		if d := s.describe(t, o.ID); d.status != "Completed" || d.orderStatus != "COMPENSATED" {
			t.Errorf("workflow %+v, want it completed, OrderStatus COMPENSATED", d)
		}
		if err := s.engine.Repair(ctx, o.ID); !errors.Is(err, shop.ErrRepaired) {
			t.Errorf("repairing it again: err = %v, want %v", err, shop.ErrRepaired)
		}
	})

	t.Run("concurrent waits each see their own outcome", func(t *testing.T) {
		orders := []shop.Order{
			s.order(t, "e2e-many-failed-1", "shipping", "refund:decline"),
			s.order(t, "e2e-many-ok"),
			s.order(t, "e2e-many-failed-2", "payment", "release:decline"),
			s.order(t, "e2e-many-declined", "payment"),
		}
		want := []shop.Status{shop.StatusFailed, shop.StatusCompleted, shop.StatusFailed, shop.StatusCompensated}
		got := make([]shop.Status, len(orders))
		var wg sync.WaitGroup
		for i, o := range orders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.engine.Place(ctx, o); err != nil {
					t.Errorf("place %s: %v", o.ID, err)
					return
				}
				wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				out, err := s.engine.Wait(wctx, o.ID)
				if err != nil {
					t.Errorf("wait %s: %v", o.ID, err)
				}
				got[i] = out.Status
			}()
		}
		wg.Wait()
		if !slices.Equal(got, want) {
			t.Errorf("outcomes %v, want %v", got, want)
		}
		for i, o := range orders {
			if want[i] == shop.StatusFailed {
				if err := s.engine.Repair(ctx, o.ID); err != nil {
					t.Errorf("repair %s: %v", o.ID, err)
				} else if out := s.wait(t, o.ID); out.Status != shop.StatusCompensated {
					t.Errorf("%s after the repair: %+v, want COMPENSATED", o.ID, out)
				}
			}
		}
	})

	t.Run("repair refuses what is not FAILED", func(t *testing.T) {
		if err := s.engine.Repair(ctx, "e2e-nobody"); !errors.Is(err, shop.ErrUnknownOrder) {
			t.Errorf("repair of an unknown order: err = %v, want %v", err, shop.ErrUnknownOrder)
		}
		done := s.order(t, "e2e-repair-completed")
		s.run(t, done)
		if err := s.engine.Repair(ctx, done.ID); !errors.Is(err, shop.ErrNotRepairable) {
			t.Errorf("repair of a COMPLETED order: err = %v, want %v", err, shop.ErrNotRepairable)
		}
		running := s.order(t, "e2e-repair-running", "payment:delay:3s")
		if err := s.engine.Place(ctx, running); err != nil {
			t.Fatal(err)
		}
		teststack.WaitRunning(t, s.engine, running.ID, shop.OpCharge)
		if err := s.engine.Repair(ctx, running.ID); !errors.Is(err, shop.ErrNotRepairable) {
			t.Errorf("repair of a PENDING order: err = %v, want %v", err, shop.ErrNotRepairable)
		}
		if out := s.wait(t, running.ID); out.Status != shop.StatusCompleted {
			t.Errorf("the order whose repair was refused: %+v, want COMPLETED", out)
		}
	})

	t.Run("duplicate order", func(t *testing.T) {
		o := s.order(t, "e2e-dup")
		s.run(t, o)
		if err := s.engine.Place(ctx, o); !errors.Is(err, shop.ErrDuplicateOrder) {
			t.Errorf("placing a finished order again: err = %v, want %v", err, shop.ErrDuplicateOrder)
		}

		running := s.order(t, "e2e-dup-running", "inventory:delay:2s")
		if err := s.engine.Place(ctx, running); err != nil {
			t.Fatalf("place: %v", err)
		}
		if err := s.engine.Place(ctx, running); !errors.Is(err, shop.ErrDuplicateOrder) {
			t.Errorf("placing a running order again: err = %v, want %v", err, shop.ErrDuplicateOrder)
		}
		if out, err := s.engine.Wait(ctx, running.ID); err != nil || out.Status != shop.StatusCompleted {
			t.Errorf("wait = %+v, %v; want COMPLETED", out, err)
		}
	})

	t.Run("unknown order", func(t *testing.T) {
		if _, err := s.engine.Status(ctx, "e2e-nobody"); !errors.Is(err, shop.ErrUnknownOrder) {
			t.Errorf("status: err = %v, want %v", err, shop.ErrUnknownOrder)
		}
		if _, err := s.engine.Wait(ctx, "e2e-nobody"); !errors.Is(err, shop.ErrUnknownOrder) {
			t.Errorf("wait: err = %v, want %v", err, shop.ErrUnknownOrder)
		}
		if _, err := s.engine.History(ctx, "e2e-nobody"); !errors.Is(err, shop.ErrUnknownOrder) {
			t.Errorf("history: err = %v, want %v", err, shop.ErrUnknownOrder)
		}
	})

	t.Run("invalid order starts nothing", func(t *testing.T) {
		for _, o := range []shop.Order{
			{ID: "e2e-invalid", Items: []shop.Item{{SKU: "unicorn", Quantity: 1}}},
			{ID: "e2e-long-customer", Customer: strings.Repeat("a", 120_000), Items: []shop.Item{{SKU: "book", Quantity: 1}}},
			{ID: "e2e-markup-customer", Customer: "<img src=x onerror=alert(1)>", Items: []shop.Item{{SKU: "book", Quantity: 1}}},
		} {
			if err := s.engine.Place(ctx, o); !errors.Is(err, shop.ErrInvalidOrder) {
				t.Errorf("place %s: err = %v, want %v", o.ID, err, shop.ErrInvalidOrder)
			}
			if _, err := s.engine.Status(ctx, o.ID); !errors.Is(err, shop.ErrUnknownOrder) {
				t.Errorf("status after a refused order: err = %v, want %v", err, shop.ErrUnknownOrder)
			}
		}
	})

	t.Run("cancel stops the running step and compensates", func(t *testing.T) {
		before := s.books(t)
		o := s.order(t, "e2e-cancel", "shipping:delay:1m")
		if err := s.engine.Place(ctx, o); err != nil {
			t.Fatalf("place: %v", err)
		}
		teststack.WaitRunning(t, s.engine, o.ID, shop.OpSchedule)
		cancelled := time.Now()
		if err := s.client.CancelWorkflow(ctx, shop.WorkflowID(o.ID), ""); err != nil {
			t.Fatalf("cancel: %v", err)
		}
		out, err := s.engine.Wait(ctx, o.ID)
		if err != nil {
			t.Fatalf("wait: %v", err)
		}
		if took := time.Since(cancelled); took > 20*time.Second {
			t.Errorf("the cancelled order took %s to end; want seconds, not the minute of its delay", took.Round(time.Millisecond))
		}
		want := shop.Outcome{OrderID: o.ID, Status: shop.StatusCompensated, Reason: workflows.ReasonCancelled,
			Steps: []shop.Step{shop.StepInventory, shop.StepFraud, shop.StepPayment}, Compensated: []shop.Step{shop.StepPayment, shop.StepInventory}}
		if !reflect.DeepEqual(out, want) {
			t.Fatalf("outcome = %+v, want %+v", out, want)
		}
		if p, err := s.engine.Status(ctx, o.ID); err != nil || !reflect.DeepEqual(p.Outcome, want) {
			t.Errorf("status = %+v, %v; want %+v", p, err, want)
		}
		if after := s.books(t); after.stock != before.stock || after.netCents != before.netCents {
			t.Errorf("books went from %+v to %+v, want stock and money back", before, after)
		}
		if d := s.describe(t, o.ID); d.status != "Canceled" || d.orderStatus != "COMPENSATED" {
			t.Errorf("workflow %+v, want it Canceled, OrderStatus COMPENSATED", d)
		}

		h := s.history(t, o.ID)
		req := find(h, 0, "WorkflowExecutionCancelRequested", "")
		stopped := find(h, req, "ActivityTaskCanceled", shop.OpSchedule)
		if req < 0 || stopped < 0 {
			t.Fatalf("history has no cancel request, then schedule cancelled: %+v", h)
		}
		if first := find(h, req, "ActivityTaskScheduled", shop.OpCancel); first < stopped {
			t.Errorf("the compensation was scheduled (entry %d) before schedule stopped (entry %d): %+v", first, stopped, h)
		}
		at := stopped
		for _, op := range []shop.Op{shop.OpCancel, shop.OpRefund, shop.OpRelease} {
			next := find(h, at, "ActivityTaskCompleted", op)
			if next < 0 {
				t.Fatalf("history has no completed %s after schedule stopped, in order cancel, refund, release: %+v", op, h)
			}
			at = next
		}
		if last := h[len(h)-1]; last.Name != "WorkflowExecutionCanceled" || !strings.Contains(last.Detail, "COMPENSATED") {
			t.Errorf("last history entry = %+v, want WorkflowExecutionCanceled with the COMPENSATED outcome", last)
		}
	})
}

// wait waits for an order's outcome.
func (s *stack) wait(t *testing.T, orderID string) shop.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := s.engine.Wait(ctx, orderID)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return out
}

// described is what the UI shows of an order's workflow.
type described struct {
	status, orderStatus, failedStep string
	summary, details                string
}

func (s *stack) describe(t *testing.T, orderID string) described {
	t.Helper()
	d, err := s.client.DescribeWorkflowExecution(context.Background(), shop.WorkflowID(orderID), "")
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	info := d.GetWorkflowExecutionInfo()
	str := func(p *commonpb.Payload) string {
		var v string
		if p != nil {
			_ = converter.GetDefaultDataConverter().FromPayload(p, &v)
		}
		return v
	}
	sa := info.GetSearchAttributes().GetIndexedFields()
	return described{
		status:      info.GetStatus().String(),
		orderStatus: str(sa[workflows.SearchAttrOrderStatus]),
		failedStep:  str(sa[workflows.SearchAttrOrderFailedStep]),
		summary:     str(d.GetExecutionConfig().GetUserMetadata().GetSummary()),
		details:     str(d.GetExecutionConfig().GetUserMetadata().GetDetails()),
	}
}
