// Package workflows holds OrderSaga, the orchestrated form of the order saga:
// one Temporal workflow that runs the participants as activities, keeps a
// compensation stack, answers the status query and waits for a repair when a
// compensation is refused.
package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// Names clients and workers share.
const (
	// TaskQueue is the task queue of the saga's workflow and activities.
	TaskQueue = "ordersaga"
	// WorkflowType is the name OrderSaga is registered and started under.
	WorkflowType = "OrderSaga"
	// QueryStatus is the query that returns the order's shop.Progress.
	QueryStatus = "status"
	// UpdateRepair is the update that repairs a FAILED order: it is
	// rejected (ErrTypeNotRepairable, ErrTypeRepairRunning or
	// ErrTypeRepaired) unless the order is FAILED.
	UpdateRepair = "repair"
	// ErrTypeNotRepairable is the type of the error a repair of an order
	// that is not FAILED is rejected with.
	ErrTypeNotRepairable = "NotRepairable"
	// ErrTypeRepairRunning is the type of the error a repair is rejected
	// with while another repair of the order runs.
	ErrTypeRepairRunning = "RepairRunning"
	// ErrTypeRepaired is the type of the error a repair is rejected with
	// once a repair has ended the order.
	ErrTypeRepaired = "AlreadyRepaired"
	// ErrTypeCompensationFailed is the type of the error workflows of
	// version 0 failed with when a compensation could not finish. Its
	// details hold the FAILED Outcome. Later versions wait for a repair.
	ErrTypeCompensationFailed = "CompensationFailed"
	// ReasonCancelled is the Outcome.Reason of an order whose workflow was cancelled.
	ReasonCancelled = "cancelled"
	// MemoOutcome is the memo field that holds the Outcome of a FAILED order
	// while it waits for a repair, so that clients read it without a worker.
	MemoOutcome = "outcome"
)

// Versions of OrderSaga. The version a workflow runs is recorded once, when
// it starts, by workflow.GetVersion under changeID, so histories recorded
// by earlier versions replay unchanged.
const (
	changeID = "order-saga"
	// versionStory: search attributes, summaries and current details for
	// the UI; activities heartbeat and a cancel waits for the running
	// activity to stop; a cancelled order ends in the Canceled state; a
	// refused compensation leaves the order FAILED, waiting for a repair,
	// instead of failing the workflow.
	versionStory workflow.Version = 1
	// versionCancelAnywhere: a cancel at any point, during a compensation
	// or while the order is FAILED too, ends the workflow Canceled once
	// the compensations have run; the workflow records, when it starts,
	// whether its participants run as activities or local activities
	// (Config.Activities), so a worker of the other mode replays it.
	versionCancelAnywhere workflow.Version = 2
	// versionCompensationWatch: a compensation that runs longer than
	// Config.CompensationAlertAfter makes the order COMPENSATING (status
	// query, OrderStatus search attribute, metric) until it ends.
	versionCompensationWatch workflow.Version = 3
	// versionNotify: once the order has ended (COMPLETED, COMPENSATED, or
	// FAILED waiting for a repair), a last activity tells the customer how
	// (activities.Notifier.Notify), on a disconnected context with a
	// bounded retry policy; its failure is logged and stays in the
	// history, and changes neither the outcome nor the compensations.
	versionNotify workflow.Version = 4
	// versionFraud: the fraud check (activities.Fraud.Check) runs between
	// the reservation and the charge. It has no compensation: a refusal
	// (FraudSuspected) compensates the reservation. Workflows of earlier
	// versions run the three steps of shop.StepsBeforeFraud.
	versionFraud workflow.Version = 5
	// versionLatest is the version new workflows run.
	versionLatest = versionFraud
)

// ActivityMode is how OrderSaga runs its participants.
type ActivityMode string

// The activity modes.
const (
	// ActivitiesRegular runs each operation as an activity: scheduled
	// and dispatched by the server, with its own history events,
	// heartbeats and retries (the default).
	ActivitiesRegular ActivityMode = "regular"
	// ActivitiesLocal runs each operation as a local activity, in the
	// worker that runs the workflow task: no round trip through the
	// server's task queue, one marker event per operation instead of
	// three events, no heartbeat.
	ActivitiesLocal ActivityMode = "local"
)

// ParseActivityMode returns the mode named s ("" is regular).
func ParseActivityMode(s string) (ActivityMode, error) {
	switch ActivityMode(s) {
	case "", ActivitiesRegular:
		return ActivitiesRegular, nil
	case ActivitiesLocal:
		return ActivitiesLocal, nil
	}
	return "", fmt.Errorf("unknown activity mode %q (want regular or local)", s)
}

// Timeouts and retry limits of the participant operations.
const (
	// BaseTimeout is the start-to-close timeout of one attempt, to which a
	// planned delay fault of the operation is added.
	BaseTimeout = 10 * time.Second
	// HeartbeatTimeout is the heartbeat timeout of every attempt: the
	// worker heartbeats while an activity runs (see WorkerOptions), so a
	// cancel reaches a running activity and a lost worker is noticed
	// within seconds.
	HeartbeatTimeout = 5 * time.Second
	// ForwardAttempts bounds the attempts of a forward operation. When they
	// run out the step counts as failed and the saga compensates.
	ForwardAttempts = 10
	// DefaultCompensationMaxInterval caps the backoff between attempts of
	// a compensation unless Config says otherwise.
	DefaultCompensationMaxInterval = 10 * time.Second
	// DefaultCompensationAlertAfter is how long a compensation runs
	// before the order shows COMPENSATING unless Config says otherwise.
	DefaultCompensationAlertAfter = shop.DefaultCompensationAlertAfter
	// NotifyAttempts bounds the attempts of the notification: more than
	// the most transient failures a fault plan can inject, so that both
	// engines tell the customer after any of them (the choreography's
	// consumer redelivers up to 30 times), and, with the backoff capped at
	// NotifyMaxInterval, about five minutes of retries: a Redis outage of
	// that long loses no notification. As a local activity, whose
	// attempts together may take no longer than one attempt's timeout,
	// it gives up after about 10 s of retries.
	NotifyAttempts = 300
	// NotifyMaxInterval caps the backoff between attempts of the
	// notification: short, so that as a local activity it still makes
	// more attempts within its 10 s than any fault plan injects failures.
	NotifyMaxInterval = time.Second
)

// NotifyRetryPolicy is the retry policy of the notification: bounded, since
// nothing waits on it; a refusal (--fail notify) is not retried.
func NotifyRetryPolicy() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        50 * time.Millisecond,
		BackoffCoefficient:     2,
		MaximumInterval:        NotifyMaxInterval,
		MaximumAttempts:        NotifyAttempts,
		NonRetryableErrorTypes: activities.RefusalTypes,
	}
}

// ForwardRetryPolicy is the retry policy of reserve, check, charge and schedule.
func ForwardRetryPolicy() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        50 * time.Millisecond,
		BackoffCoefficient:     2,
		MaximumInterval:        2 * time.Second,
		MaximumAttempts:        ForwardAttempts,
		NonRetryableErrorTypes: activities.RefusalTypes,
	}
}

// CompensationRetryPolicy is the retry policy of release, refund and cancel:
// a transient failure is retried until the compensation succeeds, with the
// backoff capped at maxInterval, so an outage of any length heals by itself.
// Only a refusal stops it. A cap below the first interval (100ms) is
// raised to it, which the server requires.
func CompensationRetryPolicy(maxInterval time.Duration) *temporal.RetryPolicy {
	const initial = 100 * time.Millisecond
	return &temporal.RetryPolicy{
		InitialInterval:        initial,
		BackoffCoefficient:     2,
		MaximumInterval:        max(maxInterval, initial),
		MaximumAttempts:        0, // unlimited
		NonRetryableErrorTypes: activities.RefusalTypes,
	}
}

// Config tunes OrderSaga on one worker. Zero fields take their defaults.
type Config struct {
	// Catalog is the participants' catalog (default
	// shop.DefaultCatalog()). OrderSaga itself never reads it: the amount
	// to charge travels in its input (shop.Order.AmountCents, priced by
	// Engine.Place), so a price change between placement and charge
	// changes nothing, and replay reads no catalog.
	Catalog shop.Catalog
	// CompensationMaxInterval caps the backoff between attempts of a
	// compensation (default DefaultCompensationMaxInterval).
	CompensationMaxInterval time.Duration
	// CompensationAlertAfter is how long a compensation may run, retries
	// included, before the order shows COMPENSATING (default
	// DefaultCompensationAlertAfter). It still retries without limit.
	CompensationAlertAfter time.Duration
	// Activities is how workflows that start on this worker run their
	// participants (default ActivitiesRegular). A workflow keeps the mode
	// it started with, whichever worker runs it later.
	Activities ActivityMode
	// PaymentTaskQueue, when set, is the task queue of the payment step's
	// activities (charge, refund), so that a worker of its own runs them;
	// default: the workflow's task queue. Every worker must agree on it.
	PaymentTaskQueue string
	// NotificationRetention is how long the notify activity keeps a
	// notification (see activities.Notifier): the order retention, or
	// activities.DefaultNotificationRetention when zero.
	NotificationRetention time.Duration
}

func (c Config) withDefaults() Config {
	if c.Activities == "" {
		c.Activities = ActivitiesRegular
	}
	if c.Catalog == nil {
		c.Catalog = shop.DefaultCatalog()
	}
	if c.CompensationAlertAfter <= 0 {
		c.CompensationAlertAfter = DefaultCompensationAlertAfter
	}
	if c.CompensationMaxInterval <= 0 {
		c.CompensationMaxInterval = DefaultCompensationMaxInterval
	}
	return c
}

// sagaStep is one step with the activities of its forward operation and of
// its compensation (nil for a step that has none: the fraud check).
type sagaStep struct {
	step       shop.Step
	forward    any
	compensate any
}

// sagaSteps lists, in saga order, the steps a workflow of version v runs:
// shop.Steps from versionFraud on, shop.StepsBeforeFraud before. The
// activities are method values on nil receivers: only their names matter
// here, the worker registers the participants that run them.
func sagaSteps(v workflow.Version) []sagaStep {
	var (
		inv   *activities.Inventory
		fraud *activities.Fraud
		pay   *activities.Payment
		ship  *activities.Shipping
	)
	all := map[shop.Step]sagaStep{
		shop.StepInventory: {step: shop.StepInventory, forward: inv.Reserve, compensate: inv.Release},
		shop.StepFraud:     {step: shop.StepFraud, forward: fraud.Check},
		shop.StepPayment:   {step: shop.StepPayment, forward: pay.Charge, compensate: pay.Refund},
		shop.StepShipping:  {step: shop.StepShipping, forward: ship.Schedule, compensate: ship.Cancel},
	}
	names := shop.Steps
	if v < versionFraud {
		names = shop.StepsBeforeFraud
	}
	steps := make([]sagaStep, len(names))
	for i, name := range names {
		steps[i] = all[name]
	}
	return steps
}

// OrderSaga is Config{}.OrderSaga: the workflow with the default settings.
func OrderSaga(ctx workflow.Context, o shop.Order) (shop.Outcome, error) {
	return Config{}.OrderSaga(ctx, o)
}

// OrderSaga runs an order through reserve, check (the fraud check, from
// versionFraud on), charge and schedule. When a step fails, or the workflow
// is cancelled, it undoes what it did in reverse order on a disconnected
// context.
//
// A step's compensation is pushed on the stack before its forward operation
// starts, so that a cancel or a timeout while the operation is in flight still
// undoes it: participants are idempotent and refuse a forward operation that
// arrives after its compensation. The one case that pops it again is a business
// failure of the step itself, since the participant then recorded a refusal and
// changed nothing. The fraud check changes nothing and has no compensation, so
// it is never on the stack: its refusal (FraudSuspected) undoes the
// reservation. A cancel stops the running operation (it heartbeats) and
// waits until it has stopped before compensating.
//
// The Outcome lists in Steps the steps whose forward operation succeeded, and
// in Compensated those of them whose compensation then succeeded, in the order
// they were undone. The defensive compensation of an in-flight step is run but
// not listed; the history shows it.
//
// Compensations retry transient failures without limit. When one is refused
// all the others still run, and the order is FAILED: the status query, the
// OrderStatus search attribute and the MemoOutcome memo say so, and the
// workflow waits for the UpdateRepair update. A repair runs the refused
// compensations again with OrderInput.Repair set and the compensation faults
// removed from the fault plan; when they all succeed the order is
// COMPENSATED, otherwise FAILED again. Nobody repairing, the workflow waits
// for as long as it is allowed to run: OrderSaga sets no run timeout, and a
// cancel request while it waits changes nothing (the money or stock it still
// holds must be given back); terminating the workflow gives up on the order.
//
// The workflow completes with the Outcome when the order is COMPLETED or
// COMPENSATED, except for a cancelled order: it ends in the Canceled state,
// with the COMPENSATED Outcome (Reason "cancelled") as the CanceledError's
// details.
func (c Config) OrderSaga(ctx workflow.Context, o shop.Order) (shop.Outcome, error) {
	s, err := start(ctx, c.withDefaults(), o)
	if err != nil {
		return shop.Outcome{}, err
	}
	s.forward(ctx)
	if s.progress.Reason == "" {
		return s.finish(ctx, shop.StatusCompleted)
	}
	failed := s.compensate(ctx, s.stack, s.in, false)
	if len(failed) > 0 && s.version < versionStory {
		return s.failClosed(ctx)
	}
	for len(failed) > 0 {
		failed = s.awaitRepair(ctx, failed)
	}
	return s.finish(ctx, shop.StatusCompensated)
}

// saga is one run of OrderSaga.
type saga struct {
	cfg      Config
	o        shop.Order
	in       activities.OrderInput
	version  workflow.Version
	mode     ActivityMode
	progress shop.Progress
	// stack holds the steps to undo, oldest first.
	stack []sagaStep
	// cancelled: the workflow was cancelled before the saga finished its steps.
	cancelled bool
	// cause is what started the compensation, for the activities' summaries.
	cause string
	// failures describe the compensations that failed, one each.
	failures []string
	// repairs counts the repairs requested, repaired those started.
	repairs, repaired int
	// notified: the customer was told (or the notification gave up).
	notified bool
}

// start records the workflow's version and registers its handlers.
func start(ctx workflow.Context, cfg Config, o shop.Order) (*saga, error) {
	in := activities.InputFor(o)
	in.AmountCents = o.AmountCents
	s := &saga{cfg: cfg, o: o, in: in,
		progress: shop.Progress{Outcome: shop.Outcome{OrderID: o.ID, Status: shop.StatusPending}}}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (shop.Progress, error) {
		return s.progress, nil
	}); err != nil {
		return nil, fmt.Errorf("register %s query: %w", QueryStatus, err)
	}
	s.version = workflow.GetVersion(ctx, changeID, workflow.DefaultVersion, versionLatest)
	if s.version < versionStory {
		return s, nil
	}
	s.mode = ActivitiesRegular
	if s.version >= versionCancelAnywhere {
		s.mode = recordMode(ctx, cfg.Activities)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateRepair, s.requestRepair,
		workflow.UpdateHandlerOptions{Validator: s.validateRepair, Description: "run the refused compensations of a FAILED order again"}); err != nil {
		return nil, fmt.Errorf("register %s update: %w", UpdateRepair, err)
	}
	if !workflow.GetTypedSearchAttributes(ctx).ContainsKey(OrderStatusKey) {
		s.upsert(ctx, OrderStatusKey.ValueSet(string(shop.StatusPending)))
	}
	return s, nil
}

// forward runs the steps in order until one fails or the workflow is
// cancelled; then progress.Reason says why.
func (s *saga) forward(ctx workflow.Context) {
	logger := workflow.GetLogger(ctx)
	steps := sagaSteps(s.version)
	for i, st := range steps {
		if ctx.Err() != nil {
			s.stopCancelled()
			return
		}
		op := st.step.Forward()
		s.progress.Current = op
		summary := markdownText(forwardSummary(op, s.o))
		s.details(ctx, fmt.Sprintf("step %d of %d: **%s**", i+1, len(steps), summary))
		undoable := st.step.Compensation() != ""
		if undoable {
			s.stack = append(s.stack, st)
		}
		err := s.execute(ctx, op, st.forward, s.in, summary)
		if err == nil {
			s.progress.Steps = append(s.progress.Steps, st.step)
			logger.Info("step done", "order", s.o.ID, "op", op)
			continue
		}
		if isRefusal(err) && undoable {
			s.stack = s.stack[:len(s.stack)-1]
		}
		if temporal.IsCanceledError(err) {
			s.stopCancelled()
		} else {
			s.progress.FailedStep = st.step
			s.progress.Reason = describe(err)
			s.cause = causeOf(op, err)
			s.upsert(ctx, OrderFailedStepKey.ValueSet(string(st.step)))
		}
		logger.Info("step did not complete", "order", s.o.ID, "op", op, "reason", s.progress.Reason)
		return
	}
}

func (s *saga) stopCancelled() {
	s.cancelled = true
	s.progress.Reason = ReasonCancelled
	s.cause = "the cancel"
}

// compensate runs the compensations of steps, newest first, on a context
// that a cancel of the workflow does not reach. A failed compensation does
// not stop the others; the steps whose compensation failed are returned, and
// their failures added to s.failures.
func (s *saga) compensate(ctx workflow.Context, steps []sagaStep, in activities.OrderInput, repair bool) []sagaStep {
	logger := workflow.GetLogger(ctx)
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var failed []sagaStep
	for i := len(steps) - 1; i >= 0; i-- {
		st := steps[i]
		op := st.step.Compensation()
		s.progress.Current = op
		why := compensation{done: slices.Contains(s.progress.Steps, st.step), cancelled: s.cancelled, repair: repair, cause: s.cause}
		if repair {
			why.cause = activities.FailureType(op)
		}
		summary := markdownText(compensationSummary(op, s.o, why))
		s.details(dctx, "compensating: **"+summary+"**")
		if err := s.watched(dctx, op, st.compensate, in, summary); err != nil {
			failed = append(failed, st)
			s.failures = append(s.failures, fmt.Sprintf("%s: %s", op, describe(err)))
			logger.Error("compensation failed", "order", s.o.ID, "op", op, "error", err)
			continue
		}
		logger.Info("compensation done", "order", s.o.ID, "op", op)
		if why.done {
			s.progress.Compensated = append(s.progress.Compensated, st.step)
		}
	}
	slices.Reverse(failed) // oldest first, like the stack
	return failed
}

// finish ends the saga in status (COMPLETED or COMPENSATED).
func (s *saga) finish(ctx workflow.Context, status shop.Status) (shop.Outcome, error) {
	s.progress.Current = ""
	s.progress.Status = status
	workflow.GetLogger(ctx).Info("order "+strings.ToLower(string(status)), "order", s.o.ID, "reason", s.progress.Reason)
	if s.version < versionStory {
		return s.progress.Outcome, nil
	}
	s.details(ctx, "**"+string(status)+"**")
	s.upsert(ctx, OrderStatusKey.ValueSet(string(status)))
	s.notify(ctx)
	if s.cancelled || (s.version >= versionCancelAnywhere && ctx.Err() != nil) {
		return s.progress.Outcome, temporal.NewCanceledError(s.progress.Outcome)
	}
	return s.progress.Outcome, nil
}

// failClosed ends a saga of version 0 FAILED: the workflow fails with a
// non-retryable CompensationFailed error whose details hold the Outcome.
func (s *saga) failClosed(ctx workflow.Context) (shop.Outcome, error) {
	s.progress.Current = ""
	s.progress.Status = shop.StatusFailed
	s.progress.Reason += "; compensation failed: " + strings.Join(s.failures, "; ")
	workflow.GetLogger(ctx).Error("order failed: compensation did not finish", "order", s.o.ID, "reason", s.progress.Reason)
	return s.progress.Outcome, temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("order %s: %s", s.o.ID, s.progress.Reason), ErrTypeCompensationFailed, nil, s.progress.Outcome)
}

// activityOptions returns the options of one operation of the order: the
// base timeout plus the delay the order's fault plan gives the operation.
func (s *saga) activityOptions(op shop.Op, summary string) workflow.ActivityOptions {
	timeout := BaseTimeout
	if f, ok := s.in.Faults.For(op); ok && f.Kind == shop.FaultDelay {
		timeout += f.Delay
	}
	policy := ForwardRetryPolicy()
	if op.IsCompensation() {
		policy = CompensationRetryPolicy(s.cfg.CompensationMaxInterval)
	}
	if op == shop.OpNotify {
		policy = NotifyRetryPolicy()
	}
	opts := workflow.ActivityOptions{StartToCloseTimeout: timeout, RetryPolicy: policy}
	if s.cfg.PaymentTaskQueue != "" && op.Step() == shop.StepPayment {
		opts.TaskQueue = s.cfg.PaymentTaskQueue
	}
	if s.version >= versionStory {
		opts.HeartbeatTimeout = HeartbeatTimeout
		opts.WaitForCancellation = true
		opts.Summary = summary
	}
	return opts
}

// details sets the workflow's current details, which the UI shows as
// markdown: d is markdown, with any text from the order escaped.
func (s *saga) details(ctx workflow.Context, d string) {
	if s.version >= versionStory {
		workflow.SetCurrentDetails(ctx, fmt.Sprintf("order %s: %s", markdownText(s.o.ID), d))
	}
}

// upsert sets search attributes (versions from versionStory on).
func (s *saga) upsert(ctx workflow.Context, updates ...temporal.SearchAttributeUpdate) {
	if s.version < versionStory {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Error("upsert search attributes", "order", s.o.ID, "error", err)
	}
}

// describe turns an activity error into a short, stable reason.
func describe(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type() + ": " + appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return "timed out (" + timeoutErr.TimeoutType().String() + ")"
	}
	return err.Error()
}

// causeOf names what made a forward operation fail, for summaries: the
// refusal's type (PaymentDeclined), or the operation and how it failed.
func causeOf(op shop.Op, err error) string {
	var appErr *temporal.ApplicationError
	if isRefusal(err) && errors.As(err, &appErr) {
		return appErr.Type()
	}
	if errors.As(err, &appErr) {
		return fmt.Sprintf("%s failed (%s)", op, appErr.Type())
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return fmt.Sprintf("%s timed out", op)
	}
	return fmt.Sprintf("%s failed", op)
}

// isRefusal reports whether an activity failed with a participant's refusal:
// it recorded the refusal and changed nothing.
func isRefusal(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.NonRetryable() && slices.Contains(activities.RefusalTypes, appErr.Type())
}
