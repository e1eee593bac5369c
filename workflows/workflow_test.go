package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

const (
	sku = "book"
	qty = 2
)

// sagaCase is one order with its faults and everything that must follow.
type sagaCase struct {
	name   string
	faults []string // as --fail takes them
	// calls is every activity attempt in order, one entry per attempt.
	calls       []string
	status      shop.Status
	steps       []shop.Step
	compensated []shop.Step
	failedStep  shop.Step
	reasonHas   []string
	// After the saga: is the stock still taken, is the money still charged?
	stockTaken, charged bool
	// A FAILED order is repaired: the activities the repair runs, and the
	// steps compensated once it is COMPENSATED.
	repairCalls       []string
	repairCompensated []shop.Step
}

var (
	inv   = shop.StepInventory
	fraud = shop.StepFraud
	pay   = shop.StepPayment
	ship  = shop.StepShipping
)

func sagaCases() []sagaCase {
	return []sagaCase{
		{
			name:   "no faults",
			calls:  []string{"Reserve", "Check", "Charge", "Schedule", "Notify"},
			status: shop.StatusCompleted, steps: []shop.Step{inv, fraud, pay, ship},
			stockTaken: true, charged: true,
		},
		{
			name: "inventory decline", faults: []string{"inventory"},
			calls:  []string{"Reserve", "Notify"},
			status: shop.StatusCompensated, failedStep: inv,
			reasonHas: []string{activities.ErrTypeInventoryRejected},
		},
		{
			name: "payment decline", faults: []string{"payment"},
			calls:  []string{"Reserve", "Check", "Charge", "Release", "Notify"},
			status: shop.StatusCompensated, failedStep: pay,
			steps: []shop.Step{inv, fraud}, compensated: []shop.Step{inv},
			reasonHas: []string{activities.ErrTypePaymentDeclined},
		},
		{
			name: "shipping decline", faults: []string{"shipping"},
			calls:  []string{"Reserve", "Check", "Charge", "Schedule", "Refund", "Release", "Notify"},
			status: shop.StatusCompensated, failedStep: ship,
			steps: []shop.Step{inv, fraud, pay}, compensated: []shop.Step{pay, inv},
			reasonHas: []string{activities.ErrTypeShipmentFailed},
		},
		{
			// The fraud check has no compensation: its refusal undoes the
			// reservation alone.
			name: "fraud refused", faults: []string{"fraud"},
			calls:  []string{"Reserve", "Check", "Release", "Notify"},
			status: shop.StatusCompensated, failedStep: fraud,
			steps: []shop.Step{inv}, compensated: []shop.Step{inv},
			reasonHas: []string{activities.ErrTypeFraudSuspected},
		},
		{
			name: "fraud check transient", faults: []string{"check:transient:2"},
			calls:  []string{"Reserve", "Check", "Check", "Check", "Charge", "Schedule", "Notify"},
			status: shop.StatusCompleted, steps: []shop.Step{inv, fraud, pay, ship},
			stockTaken: true, charged: true,
		},
		{
			// Its retries run out: still nothing of the check to undo.
			name: "fraud check transient beyond the retry limit", faults: []string{fmt.Sprintf("check:transient:%d", workflows.ForwardAttempts+2)},
			calls:  append(append([]string{"Reserve"}, repeat("Check", workflows.ForwardAttempts)...), "Release", "Notify"),
			status: shop.StatusCompensated, failedStep: fraud,
			steps: []shop.Step{inv}, compensated: []shop.Step{inv},
			reasonHas: []string{activities.ErrTypeTransient},
		},
		{
			name: "inventory transient", faults: []string{"inventory:transient:2"},
			calls:  []string{"Reserve", "Reserve", "Reserve", "Check", "Charge", "Schedule", "Notify"},
			status: shop.StatusCompleted, steps: []shop.Step{inv, fraud, pay, ship},
			stockTaken: true, charged: true,
		},
		{
			name: "payment transient", faults: []string{"payment:transient:2"},
			calls:  []string{"Reserve", "Check", "Charge", "Charge", "Charge", "Schedule", "Notify"},
			status: shop.StatusCompleted, steps: []shop.Step{inv, fraud, pay, ship},
			stockTaken: true, charged: true,
		},
		{
			name: "shipping transient", faults: []string{"shipping:transient:2"},
			calls:  []string{"Reserve", "Check", "Charge", "Schedule", "Schedule", "Schedule", "Notify"},
			status: shop.StatusCompleted, steps: []shop.Step{inv, fraud, pay, ship},
			stockTaken: true, charged: true,
		},
		{
			// Retries run out: the step failed without a business answer, so
			// its own compensation runs too, though it is not listed.
			name: "payment transient beyond the retry limit", faults: []string{fmt.Sprintf("payment:transient:%d", workflows.ForwardAttempts+2)},
			calls:  append(append([]string{"Reserve", "Check"}, repeat("Charge", workflows.ForwardAttempts)...), "Refund", "Release", "Notify"),
			status: shop.StatusCompensated, failedStep: pay,
			steps: []shop.Step{inv, fraud}, compensated: []shop.Step{inv},
			reasonHas: []string{activities.ErrTypeTransient},
		},
		{
			name: "compensation retried", faults: []string{"payment", "release:transient:2"},
			calls:  []string{"Reserve", "Check", "Charge", "Release", "Release", "Release", "Notify"},
			status: shop.StatusCompensated, failedStep: pay,
			steps: []shop.Step{inv, fraud}, compensated: []shop.Step{inv},
			reasonHas: []string{activities.ErrTypePaymentDeclined},
		},
		{
			name: "refund declined after shipping decline", faults: []string{"shipping", "refund:decline"},
			calls:  []string{"Reserve", "Check", "Charge", "Schedule", "Refund", "Release", "Notify"},
			status: shop.StatusFailed, failedStep: ship,
			steps: []shop.Step{inv, fraud, pay}, compensated: []shop.Step{inv},
			reasonHas:   []string{activities.ErrTypeShipmentFailed, activities.ErrTypeRefundFailed},
			charged:     true,
			repairCalls: []string{"Refund"}, repairCompensated: []shop.Step{inv, pay},
		},
		{
			// The notification is no step: refused, it changes nothing.
			name: "notify declined", faults: []string{"notify"},
			calls:  []string{"Reserve", "Check", "Charge", "Schedule", "Notify"},
			status: shop.StatusCompleted, steps: []shop.Step{inv, fraud, pay, ship},
			stockTaken: true, charged: true,
		},
		{
			name: "notify declined after payment decline", faults: []string{"payment", "notify"},
			calls:  []string{"Reserve", "Check", "Charge", "Release", "Notify"},
			status: shop.StatusCompensated, failedStep: pay,
			steps: []shop.Step{inv, fraud}, compensated: []shop.Step{inv},
			reasonHas: []string{activities.ErrTypePaymentDeclined},
		},
		{
			name: "notify transient", faults: []string{"notify:transient:2"},
			calls:  []string{"Reserve", "Check", "Charge", "Schedule", "Notify", "Notify", "Notify"},
			status: shop.StatusCompleted, steps: []shop.Step{inv, fraud, pay, ship},
			stockTaken: true, charged: true,
		},
		{
			// More failures than a forward step may have: the notification
			// has a retry policy of its own (NotifyRetryPolicy).
			name: "notify transient beyond the forward attempts", faults: []string{fmt.Sprintf("notify:transient:%d", workflows.ForwardAttempts+2)},
			calls:  append([]string{"Reserve", "Check", "Charge", "Schedule"}, repeat("Notify", workflows.ForwardAttempts+3)...),
			status: shop.StatusCompleted, steps: []shop.Step{inv, fraud, pay, ship},
			stockTaken: true, charged: true,
		},
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func orderFor(t *testing.T, id string, specs []string) shop.Order {
	t.Helper()
	plan, err := shop.ParseFaultPlan(specs)
	if err != nil {
		t.Fatalf("fault plan %v: %v", specs, err)
	}
	return shop.Order{ID: id, Customer: "ada", Items: []shop.Item{{SKU: sku, Quantity: qty}}, Faults: plan}
}

// recorder keeps every activity attempt the test environment starts.
type recorder struct {
	mu       sync.Mutex
	calls    []string
	timeouts map[string]time.Duration
}

func (r *recorder) listen(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, info.ActivityType.Name)
	if r.timeouts == nil {
		r.timeouts = make(map[string]time.Duration)
	}
	r.timeouts[info.ActivityType.Name] = info.StartToCloseTimeout
}

func (r *recorder) sequence() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func quietLogger() tlog.Logger {
	return tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func newEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *recorder) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(quietLogger())
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(workflows.OrderSaga)
	rec := &recorder{}
	env.SetOnActivityStartedListener(rec.listen)
	return env, rec
}

// fake returns an activity that honours the order's fault plan the way the
// participants do, without any state: decline fails for good, transient:N
// fails the first N attempts, delay is left to the caller's mock.
func fake(op shop.Op) func(context.Context, activities.OrderInput) (activities.Result, error) {
	return func(ctx context.Context, in activities.OrderInput) (activities.Result, error) {
		res := activities.Result{OrderID: in.OrderID, Op: string(op)}
		f, ok := in.Faults.For(op)
		switch {
		case ok && f.Kind == shop.FaultDecline:
			return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s %s: declined", op, in.OrderID), activities.FailureType(op), nil)
		case ok && f.Kind == shop.FaultTransient && int(activity.GetInfo(ctx).Attempt) <= f.Attempts:
			return res, temporal.NewApplicationError(fmt.Sprintf("%s %s: transient", op, in.OrderID), activities.ErrTypeTransient)
		}
		return res, nil
	}
}

// mockParticipants mocks the seven operations with fakes. slow, when set, makes
// that activity take the given time on the workflow clock.
func mockParticipants(env *testsuite.TestWorkflowEnvironment, slow map[shop.Op]time.Duration) {
	mockParticipantsWith(env, slow, nil)
}

// mockParticipantsWith is mockParticipants with some operations run by the
// given functions instead of the fakes.
func mockParticipantsWith(env *testsuite.TestWorkflowEnvironment, slow map[shop.Op]time.Duration, with map[shop.Op]func(context.Context, activities.OrderInput) (activities.Result, error)) {
	var (
		i *activities.Inventory
		f *activities.Fraud
		p *activities.Payment
		s *activities.Shipping
	)
	for _, m := range []struct {
		op shop.Op
		fn any
	}{
		{shop.OpReserve, i.Reserve}, {shop.OpRelease, i.Release},
		{shop.OpCheck, f.Check},
		{shop.OpCharge, p.Charge}, {shop.OpRefund, p.Refund},
		{shop.OpSchedule, s.Schedule}, {shop.OpCancel, s.Cancel},
	} {
		fn := fake(m.op)
		if f, ok := with[m.op]; ok {
			fn = f
		}
		call := env.OnActivity(m.fn, mock.Anything, mock.Anything).Return(fn)
		if d := slow[m.op]; d > 0 {
			call.After(d)
		}
	}
	var n *activities.Notifier
	env.OnActivity(n.Notify, mock.Anything, mock.Anything).Return(fakeNotify)
}

// fakeNotify is the notification honouring the order's fault plan like fake.
func fakeNotify(ctx context.Context, in activities.NotifyInput) (activities.Result, error) {
	in2 := activities.OrderInput{OrderID: in.Outcome.OrderID, Faults: in.Faults}
	return fake(shop.OpNotify)(ctx, in2)
}

// result returns the workflow's outcome, from its result or, when it was
// cancelled, from the CanceledError's details.
func result(t *testing.T, env *testsuite.TestWorkflowEnvironment) shop.Outcome {
	t.Helper()
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var out shop.Outcome
	err := env.GetWorkflowError()
	if err == nil {
		if err := env.GetWorkflowResult(&out); err != nil {
			t.Fatalf("workflow result: %v", err)
		}
		return out
	}
	var canceled *temporal.CanceledError
	if !errors.As(err, &canceled) {
		t.Fatalf("workflow error = %v, want none or a CanceledError", err)
	}
	if err := canceled.Details(&out); err != nil {
		t.Fatalf("details of %v: %v", canceled, err)
	}
	if out.Status != shop.StatusCompensated {
		t.Errorf("workflow cancelled with outcome %+v, want COMPENSATED", out)
	}
	return out
}

// wantCanceled fails unless the workflow ended in the Canceled state.
func wantCanceled(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
	t.Helper()
	var canceled *temporal.CanceledError
	if err := env.GetWorkflowError(); !errors.As(err, &canceled) {
		t.Errorf("workflow ended with error %v, want it Canceled", err)
	}
}

// failedThenRepair queries the order once the saga has settled (an hour of
// workflow time later) and, when it is FAILED, repairs it. It returns where
// the query's answer will be and how many activities had run by then.
func failedThenRepair(t *testing.T, env *testsuite.TestWorkflowEnvironment, rec *recorder) (*shop.Progress, *int) {
	t.Helper()
	var p shop.Progress
	calls := -1
	env.RegisterDelayedCallback(func() {
		p = queryStatus(t, env)
		calls = len(rec.sequence())
		if p.Status == shop.StatusFailed {
			env.UpdateWorkflow(workflows.UpdateRepair, "repair-1", &updateCallbacks{t: t, accept: true})
		}
	}, time.Hour)
	return &p, &calls
}

// updateCallbacks checks that an update is accepted or rejected as expected.
type updateCallbacks struct {
	t        *testing.T
	accept   bool
	rejected error
	done     bool
}

func (u *updateCallbacks) Accept() {
	if !u.accept {
		u.t.Error("update accepted, want it rejected")
	}
}

func (u *updateCallbacks) Reject(err error) {
	u.rejected, u.done = err, true
	if u.accept {
		u.t.Errorf("update rejected: %v", err)
	}
}

func (u *updateCallbacks) Complete(_ any, err error) {
	u.done = true
	if err != nil {
		u.t.Errorf("update failed: %v", err)
	}
}

// checkSaga checks one case's outcome and activities, with its repair when
// the order was FAILED.
func checkSaga(t *testing.T, c sagaCase, o shop.Order, env *testsuite.TestWorkflowEnvironment, rec *recorder, mid *shop.Progress, midCalls *int) {
	t.Helper()
	if c.status != shop.StatusFailed {
		checkOutcome(t, c, o.ID, result(t, env))
		if got := rec.sequence(); !slices.Equal(got, c.calls) {
			t.Errorf("activities = %v\nwant         %v", got, c.calls)
		}
		return
	}
	// FAILED: the workflow waits for a repair, then compensates the rest.
	checkOutcome(t, c, o.ID, mid.Outcome)
	if got := rec.sequence(); *midCalls != len(c.calls) || !slices.Equal(got, append(slices.Clone(c.calls), c.repairCalls...)) {
		t.Errorf("activities = %v (%d before the repair)\nwant         %v then %v", got, *midCalls, c.calls, c.repairCalls)
	}
	repaired := c
	repaired.status, repaired.compensated = shop.StatusCompensated, c.repairCompensated
	repaired.reasonHas = c.reasonHas[:1]
	checkOutcome(t, repaired, o.ID, result(t, env))
}

func checkOutcome(t *testing.T, c sagaCase, orderID string, got shop.Outcome) {
	t.Helper()
	if got.OrderID != orderID {
		t.Errorf("order ID = %q, want %q", got.OrderID, orderID)
	}
	if got.Status != c.status {
		t.Errorf("status = %s, want %s (reason %q)", got.Status, c.status, got.Reason)
	}
	if !slices.Equal(got.Steps, c.steps) {
		t.Errorf("steps = %v, want %v", got.Steps, c.steps)
	}
	if !slices.Equal(got.Compensated, c.compensated) {
		t.Errorf("compensated = %v, want %v", got.Compensated, c.compensated)
	}
	if got.FailedStep != c.failedStep {
		t.Errorf("failed step = %q, want %q", got.FailedStep, c.failedStep)
	}
	if len(c.reasonHas) == 0 && got.Reason != "" {
		t.Errorf("reason = %q, want none", got.Reason)
	}
	for _, s := range c.reasonHas {
		if !strings.Contains(got.Reason, s) {
			t.Errorf("reason = %q, want it to mention %s", got.Reason, s)
		}
	}
}

// TestOrderSagaMocked runs every case against fake participants and checks
// the outcome and the exact activity attempts, compensations included.
func TestOrderSagaMocked(t *testing.T) {
	for _, c := range sagaCases() {
		t.Run(c.name, func(t *testing.T) {
			env, rec := newEnv(t)
			mockParticipants(env, nil)
			o := orderFor(t, "mock-1", c.faults)
			mid, midCalls := failedThenRepair(t, env, rec)
			env.ExecuteWorkflow(workflows.OrderSaga, o)
			checkSaga(t, c, o, env, rec, mid, midCalls)
		})
	}
}

// TestOrderSagaLocalMocked runs every case with the participants as local
// activities: the same outcomes and the same attempts.
func TestOrderSagaLocalMocked(t *testing.T) {
	for _, c := range sagaCases() {
		t.Run(c.name, func(t *testing.T) {
			env, rec := newEnv(t)
			env.RegisterWorkflowWithOptions(workflows.Config{Activities: workflows.ActivitiesLocal}.OrderSaga,
				workflow.RegisterOptions{Name: "LocalSaga"})
			env.SetOnLocalActivityStartedListener(func(info *activity.Info, ctx context.Context, args []any) {
				rec.listen(info, ctx, nil)
			})
			env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
				t.Errorf("%s ran as a regular activity", info.ActivityType.Name)
			})
			mockParticipants(env, nil)
			o := orderFor(t, "local-1", c.faults)
			mid, midCalls := failedThenRepair(t, env, rec)
			env.ExecuteWorkflow("LocalSaga", o)
			checkSaga(t, c, o, env, rec, mid, midCalls)
		})
	}
}

// TestOrderSagaRedis runs every case against the real participants on a real
// redis-server, and checks their state as well: stock and ledger are back
// where they were unless the step still stands.
func TestOrderSagaRedis(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := srv.Client()
	catalog := shop.DefaultCatalog()
	ctx := context.Background()
	prefix := activities.OrchestrationPrefix
	if err := activities.Seed(ctx, rdb, prefix, catalog); err != nil {
		t.Fatal(err)
	}
	parts := activities.New(rdb, prefix, catalog)

	for i, c := range sagaCases() {
		t.Run(c.name, func(t *testing.T) {
			env, rec := newEnv(t)
			env.SetWorkerOptions(workflows.WorkerOptions(worker.Options{}))
			env.RegisterActivity(parts.Inventory)
			env.RegisterActivity(parts.Fraud)
			env.RegisterActivity(parts.Payment)
			env.RegisterActivity(parts.Shipping)
			env.RegisterActivity(parts.Notifier(0))
			o := orderFor(t, fmt.Sprintf("redis-%d", i), c.faults)

			stockBefore := readStock(t, rdb)
			ledgerBefore := readLedger(t, rdb)
			mid, midCalls := failedThenRepair(t, env, rec)
			env.ExecuteWorkflow(workflows.OrderSaga, o)
			checkSaga(t, c, o, env, rec, mid, midCalls)

			wantStock := stockBefore
			if c.stockTaken {
				wantStock -= qty
			}
			if c.status == shop.StatusFailed {
				c.charged = false // repaired: refunded
			}
			if got := readStock(t, rdb); got != wantStock {
				t.Errorf("stock of %s = %d, want %d", sku, got, wantStock)
			}
			var wantNet int64
			if c.charged {
				wantNet = o.Total(catalog)
			}
			l := readLedger(t, rdb)
			gotNet := (l.ChargedCents - l.RefundedCents) - (ledgerBefore.ChargedCents - ledgerBefore.RefundedCents)
			if gotNet != wantNet {
				t.Errorf("net charged = %d cents, want %d", gotNet, wantNet)
			}
		})
	}
}

func readStock(t *testing.T, rdb redis.UniversalClient) int64 {
	t.Helper()
	s, err := activities.Stock(context.Background(), rdb, activities.OrchestrationPrefix, shop.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	return s[sku]
}

func readLedger(t *testing.T, rdb redis.UniversalClient) activities.Ledger {
	t.Helper()
	l, err := activities.ReadLedger(context.Background(), rdb, activities.OrchestrationPrefix)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestOrderSagaCancel cancels the workflow while Schedule runs: everything
// done so far is undone, the interrupted step included.
func TestOrderSagaCancel(t *testing.T) {
	env, rec := newEnv(t)
	mockParticipants(env, map[shop.Op]time.Duration{shop.OpSchedule: 5 * time.Second})
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Second)
	o := orderFor(t, "cancel-1", nil)
	env.ExecuteWorkflow(workflows.OrderSaga, o)

	c := sagaCase{
		status: shop.StatusCompensated,
		steps:  []shop.Step{inv, fraud, pay}, compensated: []shop.Step{pay, inv},
		reasonHas: []string{workflows.ReasonCancelled},
	}
	got := result(t, env)
	checkOutcome(t, c, o.ID, got)
	if got.Reason != workflows.ReasonCancelled {
		t.Errorf("reason = %q, want %q", got.Reason, workflows.ReasonCancelled)
	}
	want := []string{"Reserve", "Check", "Charge", "Schedule", "Cancel", "Refund", "Release", "Notify"}
	if calls := rec.sequence(); !slices.Equal(calls, want) {
		t.Errorf("activities = %v\nwant         %v", calls, want)
	}
}

// TestOrderSagaCancelDuringReserve cancels the workflow while Reserve runs:
// the defensive release runs, and the workflow ends Canceled.
func TestOrderSagaCancelDuringReserve(t *testing.T) {
	env, rec := newEnv(t)
	mockParticipants(env, map[shop.Op]time.Duration{shop.OpReserve: 5 * time.Second})
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Second)
	o := orderFor(t, "cancel-3", nil)
	env.ExecuteWorkflow(workflows.OrderSaga, o)
	checkOutcome(t, sagaCase{status: shop.StatusCompensated, reasonHas: []string{workflows.ReasonCancelled}}, o.ID, result(t, env))
	wantCanceled(t, env)
	want := []string{"Reserve", "Release", "Notify"}
	if calls := rec.sequence(); !slices.Equal(calls, want) {
		t.Errorf("activities = %v\nwant         %v", calls, want)
	}
}

// TestOrderSagaCancelWhileFailed cancels a FAILED order: it still waits
// for its repair (what it holds must be given back), and once the repair
// has compensated it ends Canceled.
func TestOrderSagaCancelWhileFailed(t *testing.T) {
	env, rec := newEnv(t)
	mockParticipants(env, nil)
	env.RegisterDelayedCallback(env.CancelWorkflow, 30*time.Minute)
	mid, midCalls := failedThenRepair(t, env, rec)
	o := orderFor(t, "cancel-4", []string{"shipping", "refund:decline"})
	env.ExecuteWorkflow(workflows.OrderSaga, o)
	if mid.Status != shop.StatusFailed || *midCalls != 7 {
		t.Fatalf("an hour in (after the cancel): %+v after %d activities, want FAILED after 7 (the notification last)", *mid, *midCalls)
	}
	c := sagaCase{
		status: shop.StatusCompensated, failedStep: ship,
		steps: []shop.Step{inv, fraud, pay}, compensated: []shop.Step{inv, pay},
		reasonHas: []string{activities.ErrTypeShipmentFailed},
	}
	checkOutcome(t, c, o.ID, result(t, env))
	wantCanceled(t, env)
	want := []string{"Reserve", "Check", "Charge", "Schedule", "Refund", "Release", "Notify", "Refund"}
	if calls := rec.sequence(); !slices.Equal(calls, want) {
		t.Errorf("activities = %v\nwant         %v", calls, want)
	}
}

// TestOrderSagaCancelDuringCompensation: a cancel that arrives while the saga
// compensates a decline does not stop the compensations; once they have
// run, the workflow ends Canceled.
func TestOrderSagaCancelDuringCompensation(t *testing.T) {
	env, rec := newEnv(t)
	mockParticipants(env, map[shop.Op]time.Duration{shop.OpRefund: 5 * time.Second})
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Second)
	o := orderFor(t, "cancel-2", []string{"shipping"})
	env.ExecuteWorkflow(workflows.OrderSaga, o)

	c := sagaCase{
		status: shop.StatusCompensated, failedStep: ship,
		steps: []shop.Step{inv, fraud, pay}, compensated: []shop.Step{pay, inv},
		reasonHas: []string{activities.ErrTypeShipmentFailed},
	}
	checkOutcome(t, c, o.ID, result(t, env))
	wantCanceled(t, env)
	want := []string{"Reserve", "Check", "Charge", "Schedule", "Refund", "Release", "Notify"}
	if calls := rec.sequence(); !slices.Equal(calls, want) {
		t.Errorf("activities = %v\nwant         %v", calls, want)
	}
}

func queryStatus(t *testing.T, env *testsuite.TestWorkflowEnvironment) shop.Progress {
	t.Helper()
	v, err := env.QueryWorkflow(workflows.QueryStatus)
	if err != nil {
		t.Fatalf("query %s: %v", workflows.QueryStatus, err)
	}
	var p shop.Progress
	if err := v.Get(&p); err != nil {
		t.Fatalf("decode progress: %v", err)
	}
	return p
}

// TestOrderSagaStatusQuery queries the saga while Charge runs, and again
// once it has ended.
func TestOrderSagaStatusQuery(t *testing.T) {
	env, _ := newEnv(t)
	mockParticipants(env, map[shop.Op]time.Duration{shop.OpCharge: 5 * time.Second})
	var mid shop.Progress
	queried := false
	env.RegisterDelayedCallback(func() {
		mid = queryStatus(t, env)
		queried = true
	}, time.Second)
	o := orderFor(t, "query-1", nil)
	env.ExecuteWorkflow(workflows.OrderSaga, o)
	if out := result(t, env); out.Status != shop.StatusCompleted {
		t.Fatalf("status = %s, want %s", out.Status, shop.StatusCompleted)
	}

	if !queried {
		t.Fatal("the mid-run query never ran")
	}
	if mid.Status != shop.StatusPending || mid.Current != shop.OpCharge || !slices.Equal(mid.Steps, []shop.Step{inv, fraud}) || mid.OrderID != o.ID {
		t.Errorf("mid-run progress = %+v, want PENDING, running charge, inventory and fraud check done", mid)
	}

	end := queryStatus(t, env)
	if end.Status != shop.StatusCompleted || end.Current != "" || !slices.Equal(end.Steps, []shop.Step{inv, fraud, pay, ship}) {
		t.Errorf("final progress = %+v, want COMPLETED with all steps and nothing running", end)
	}
}

// TestOrderSagaDelayExtendsTimeout: a delay fault on an operation adds its
// delay to the operation's start-to-close timeout, and to no other.
func TestOrderSagaDelayExtendsTimeout(t *testing.T) {
	env, rec := newEnv(t)
	mockParticipants(env, nil)
	o := orderFor(t, "delay-1", []string{"shipping:delay:1m"})
	env.ExecuteWorkflow(workflows.OrderSaga, o)
	if out := result(t, env); out.Status != shop.StatusCompleted {
		t.Fatalf("status = %s, want %s", out.Status, shop.StatusCompleted)
	}
	want := map[string]time.Duration{
		"Reserve":  workflows.BaseTimeout,
		"Check":    workflows.BaseTimeout,
		"Charge":   workflows.BaseTimeout,
		"Schedule": workflows.BaseTimeout + time.Minute,
	}
	for name, d := range want {
		if got := rec.timeouts[name]; got != d {
			t.Errorf("start-to-close timeout of %s = %s, want %s", name, got, d)
		}
	}
}

// TestOrderSagaChargesPlacedAmount: the price changes between placement
// and charge (the worker's catalog says otherwise); the saga charges the
// amount the order was placed at.
func TestOrderSagaChargesPlacedAmount(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	placed := shop.DefaultCatalog()
	later := shop.DefaultCatalog()
	p := later[sku]
	p.PriceCents *= 3
	later[sku] = p
	if err := activities.Seed(context.Background(), rdb, activities.OrchestrationPrefix, later); err != nil {
		t.Fatal(err)
	}
	parts := activities.New(rdb, activities.OrchestrationPrefix, later)
	env, _ := newEnv(t)
	env.SetWorkerOptions(workflows.WorkerOptions(worker.Options{}))
	env.RegisterActivity(parts.Inventory)
	env.RegisterActivity(parts.Fraud)
	env.RegisterActivity(parts.Payment)
	env.RegisterActivity(parts.Shipping)
	env.RegisterActivity(parts.Notifier(0))
	o := orderFor(t, "priced-1", nil).Priced(placed)
	env.ExecuteWorkflow(workflows.OrderSaga, o)
	if out := result(t, env); out.Status != shop.StatusCompleted {
		t.Fatalf("status = %s, want %s", out.Status, shop.StatusCompleted)
	}
	if got, want := readLedger(t, rdb).ChargedCents, o.Total(placed); got != want {
		t.Errorf("charged %d cents, want the placed %d (the later catalog says %d)", got, want, o.Total(later))
	}
}
