package workflows_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// optionsRecorder is a workflow interceptor that keeps the options of every
// activity the workflow schedules, by activity type.
type optionsRecorder struct {
	interceptor.WorkerInterceptorBase
	mu   sync.Mutex
	opts map[string]workflow.ActivityOptions
}

func (r *optionsRecorder) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &optionsInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, r: r}
}

type optionsInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	r *optionsRecorder
}

func (i *optionsInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&optionsOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, r: i.r})
}

type optionsOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	r *optionsRecorder
}

func (o *optionsOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	o.r.mu.Lock()
	if o.r.opts == nil {
		o.r.opts = map[string]workflow.ActivityOptions{}
	}
	o.r.opts[activityType] = workflow.GetActivityOptions(ctx)
	o.r.mu.Unlock()
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}

// TestOrderSagaActivityOptions: compensations retry transient failures
// without an attempt limit, their backoff capped by the Config, while
// forward steps stay bounded; every activity heartbeats with a heartbeat
// timeout of a few seconds, waits for its cancellation to be confirmed, and
// has a summary for the UI.
func TestOrderSagaActivityOptions(t *testing.T) {
	const maxInterval = 300 * time.Millisecond
	var s testsuite.WorkflowTestSuite
	s.SetLogger(quietLogger())
	env := s.NewTestWorkflowEnvironment()
	rec := &optionsRecorder{}
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{rec}})
	env.RegisterWorkflowWithOptions(workflows.Config{CompensationMaxInterval: maxInterval}.OrderSaga,
		workflow.RegisterOptions{Name: workflows.WorkflowType})
	mockParticipants(env, nil)
	env.ExecuteWorkflow(workflows.WorkflowType, orderFor(t, "options-1", []string{"shipping"}).Priced(shop.DefaultCatalog()))
	if out := result(t, env); out.Status != shop.StatusCompensated {
		t.Fatalf("status = %s, want COMPENSATED", out.Status)
	}
	summaries := map[string]string{
		"Reserve": "reserve book:2", "Check": "check order options-1 for fraud: 84.00 by ada",
		"Charge": "charge 84.00", "Schedule": "schedule shipment of book:2",
		"Refund": "refund 84.00 after ShipmentFailed", "Release": "release book:2 after ShipmentFailed",
	}
	for name, summary := range summaries {
		o, ok := rec.opts[name]
		if !ok {
			t.Errorf("%s was not scheduled", name)
			continue
		}
		attempts, interval := int32(workflows.ForwardAttempts), 2*time.Second
		if name == "Refund" || name == "Release" {
			attempts, interval = 0, maxInterval
		}
		if p := o.RetryPolicy; p == nil || p.MaximumAttempts != attempts || p.MaximumInterval != interval {
			t.Errorf("%s: retry policy %+v, want at most %d attempts (0: no limit), backoff capped at %s", name, p, attempts, interval)
		}
		if o.HeartbeatTimeout != workflows.HeartbeatTimeout || !o.WaitForCancellation {
			t.Errorf("%s: heartbeat timeout %s, wait for cancellation %v; want %s and true", name, o.HeartbeatTimeout, o.WaitForCancellation, workflows.HeartbeatTimeout)
		}
		if o.Summary != summary {
			t.Errorf("%s: summary %q, want %q", name, o.Summary, summary)
		}
	}
	if workflows.HeartbeatTimeout > 10*time.Second || workflows.HeartbeatTimeout < time.Second {
		t.Errorf("heartbeat timeout %s is not a few seconds", workflows.HeartbeatTimeout)
	}
}

// statusTrail records the OrderStatus and OrderFailedStep values the
// workflow upserts, in order.
func statusTrail(env *testsuite.TestWorkflowEnvironment) *[]string {
	var trail []string
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		if v, ok := sa.GetKeyword(workflows.OrderStatusKey); ok {
			trail = append(trail, workflows.SearchAttrOrderStatus+"="+v)
		}
		if v, ok := sa.GetKeyword(workflows.OrderFailedStepKey); ok {
			trail = append(trail, workflows.SearchAttrOrderFailedStep+"="+v)
		}
	}).Return(nil)
	return &trail
}

// TestOrderSagaSearchAttributes: OrderStatus follows the order through
// each transition, and OrderFailedStep names the step that failed.
func TestOrderSagaSearchAttributes(t *testing.T) {
	for _, c := range []struct {
		faults []string
		want   []string
	}{
		{nil, []string{"OrderStatus=PENDING", "OrderStatus=COMPLETED"}},
		{[]string{"payment"}, []string{"OrderStatus=PENDING", "OrderFailedStep=payment", "OrderStatus=COMPENSATED"}},
		{[]string{"shipping", "refund:decline"}, []string{"OrderStatus=PENDING", "OrderFailedStep=shipping",
			"OrderStatus=FAILED", "OrderStatus=PENDING", "OrderStatus=COMPENSATED"}},
	} {
		t.Run(fmt.Sprint(c.faults), func(t *testing.T) {
			env, rec := newEnv(t)
			mockParticipants(env, nil)
			trail := statusTrail(env)
			failedThenRepair(t, env, rec)
			env.ExecuteWorkflow(workflows.OrderSaga, orderFor(t, "sa-1", c.faults))
			result(t, env)
			if !slices.Equal(*trail, c.want) {
				t.Errorf("search attributes set: %v\nwant                  %v", *trail, c.want)
			}
		})
	}
}

// TestOrderSagaRepair: a repair is rejected unless the order is FAILED; a
// repair whose compensation is refused again leaves the order FAILED again,
// waiting for the next repair; the repair's runs have OrderInput.Repair set
// and no compensation faults.
func TestOrderSagaRepair(t *testing.T) {
	env, rec := newEnv(t)
	var refunds []activities.OrderInput
	mockParticipantsWith(env, map[shop.Op]time.Duration{shop.OpCharge: time.Minute}, map[shop.Op]func(context.Context, activities.OrderInput) (activities.Result, error){
		shop.OpRefund: func(_ context.Context, in activities.OrderInput) (activities.Result, error) {
			refunds = append(refunds, in)
			if len(refunds) <= 2 {
				return activities.Result{}, temporal.NewNonRetryableApplicationError("refund refused", activities.ErrTypeRefundFailed, nil)
			}
			return activities.Result{OrderID: in.OrderID, Op: "refund"}, nil
		},
	})

	early := &updateCallbacks{t: t, accept: false}
	env.RegisterDelayedCallback(func() { env.UpdateWorkflow(workflows.UpdateRepair, "early", early) }, time.Second)
	var states []shop.Status
	for n, at := range []time.Duration{time.Hour, 2 * time.Hour} {
		env.RegisterDelayedCallback(func() {
			states = append(states, queryStatus(t, env).Status)
			env.UpdateWorkflow(workflows.UpdateRepair, fmt.Sprintf("repair-%d", n), &updateCallbacks{t: t, accept: true})
		}, at)
	}
	env.ExecuteWorkflow(workflows.OrderSaga, orderFor(t, "repair-1", []string{"shipping", "refund:decline"}))

	out := result(t, env)
	if out.Status != shop.StatusCompensated || !slices.Equal(out.Compensated, []shop.Step{inv, pay}) {
		t.Fatalf("outcome = %+v, want COMPENSATED, inventory then payment undone", out)
	}
	if !early.done || early.rejected == nil {
		t.Errorf("a repair while the order was PENDING: done %v, rejection %v; want it rejected", early.done, early.rejected)
	}
	if want := []shop.Status{shop.StatusFailed, shop.StatusFailed}; !slices.Equal(states, want) {
		t.Errorf("status before each repair = %v, want %v", states, want)
	}
	want := []string{"Reserve", "Check", "Charge", "Schedule", "Refund", "Release", "Notify", "Refund", "Refund"}
	if got := rec.sequence(); !slices.Equal(got, want) {
		t.Errorf("activities = %v\nwant         %v", got, want)
	}
	for i, in := range refunds {
		_, fault := in.Faults[shop.OpRefund]
		if repair := i > 0; in.Repair != repair || fault == repair || len(in.Faults) == 0 {
			t.Errorf("refund %d: repair %v, faults %v; want repair %v, the refund fault only without it", i+1, in.Repair, in.Faults, repair)
		}
	}
}

// TestOrderSagaCompensating: a release that runs past the alert threshold
// makes the order COMPENSATING (status query with the time it started,
// OrderStatus) until it ends; the saga then ends COMPENSATED as usual.
func TestOrderSagaCompensating(t *testing.T) {
	env, _ := newEnv(t)
	env.RegisterWorkflowWithOptions(workflows.Config{CompensationAlertAfter: time.Minute}.OrderSaga,
		workflow.RegisterOptions{Name: "AlertSaga"})
	mockParticipants(env, map[shop.Op]time.Duration{shop.OpRelease: 3 * time.Minute})
	trail := statusTrail(env)
	var mid shop.Progress
	env.RegisterDelayedCallback(func() { mid = queryStatus(t, env) }, 2*time.Minute)
	env.ExecuteWorkflow("AlertSaga", orderFor(t, "alert-1", []string{"payment"}))
	if out := result(t, env); out.Status != shop.StatusCompensated {
		t.Fatalf("status %s, want COMPENSATED", out.Status)
	}
	if mid.Status != shop.StatusCompensating || mid.Current != shop.OpRelease || mid.RetryingSince == nil {
		t.Errorf("two minutes into the release: %+v, want COMPENSATING with release retrying since its start", mid)
	}
	want := []string{"OrderStatus=PENDING", "OrderFailedStep=payment", "OrderStatus=COMPENSATING", "OrderStatus=PENDING", "OrderStatus=COMPENSATED"}
	if !slices.Equal(*trail, want) {
		t.Errorf("search attributes set: %v\nwant                  %v", *trail, want)
	}
}
