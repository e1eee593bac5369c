// Package workflows holds OrderSaga, the orchestrated form of the order saga:
// one Temporal workflow that runs the participants as activities, keeps a
// compensation stack and answers the status query.
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
	// QueryStatus is the query that returns the order's shop.Progress.
	QueryStatus = "status"
	// ErrTypeCompensationFailed is the type of the error the workflow fails
	// with when a compensation could not finish. Its details hold the Outcome.
	ErrTypeCompensationFailed = "CompensationFailed"
	// ReasonCancelled is the Outcome.Reason of an order whose workflow was cancelled.
	ReasonCancelled = "cancelled"
)

// Timeouts and retry limits of the participant operations.
const (
	// BaseTimeout is the start-to-close timeout of one attempt, to which a
	// planned delay fault of the operation is added.
	BaseTimeout = 10 * time.Second
	// ForwardAttempts bounds the attempts of a forward operation. When they
	// run out the step counts as failed and the saga compensates.
	ForwardAttempts = 10
	// CompensationAttempts bounds the attempts of a compensation. It is above
	// shop.MaxTransientAttempts, so any injected transient fault heals.
	CompensationAttempts = shop.MaxTransientAttempts + 5
)

// ForwardRetryPolicy is the retry policy of reserve, charge and schedule.
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
// more patient than the forward one, but still bounded.
func CompensationRetryPolicy() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        100 * time.Millisecond,
		BackoffCoefficient:     2,
		MaximumInterval:        10 * time.Second,
		MaximumAttempts:        CompensationAttempts,
		NonRetryableErrorTypes: activities.RefusalTypes,
	}
}

// sagaStep is one step with the activities of its forward operation and of
// its compensation.
type sagaStep struct {
	step       shop.Step
	forward    any
	compensate any
}

// sagaSteps lists the steps in saga order. The activities are method values
// on nil receivers: only their names matter here, the worker registers the
// participants that run them.
func sagaSteps() []sagaStep {
	var (
		inv  *activities.Inventory
		pay  *activities.Payment
		ship *activities.Shipping
	)
	return []sagaStep{
		{step: shop.StepInventory, forward: inv.Reserve, compensate: inv.Release},
		{step: shop.StepPayment, forward: pay.Charge, compensate: pay.Refund},
		{step: shop.StepShipping, forward: ship.Schedule, compensate: ship.Cancel},
	}
}

// activityOptions returns the options of one operation of an order: the base
// timeout plus the delay the order's fault plan gives the operation.
func activityOptions(o shop.Order, op shop.Op) workflow.ActivityOptions {
	timeout := BaseTimeout
	if f, ok := o.Faults.For(op); ok && f.Kind == shop.FaultDelay {
		timeout += f.Delay
	}
	policy := ForwardRetryPolicy()
	if op.IsCompensation() {
		policy = CompensationRetryPolicy()
	}
	return workflow.ActivityOptions{
		StartToCloseTimeout: timeout,
		RetryPolicy:         policy,
	}
}

// OrderSaga runs an order through reserve, charge and schedule. When a step
// fails, or the workflow is cancelled, it undoes what it did in reverse order
// on a disconnected context.
//
// A step's compensation is pushed on the stack before its forward operation
// starts, so that a cancel or a timeout while the operation is in flight still
// undoes it: participants are idempotent and refuse a forward operation that
// arrives after its compensation. The one case that pops it again is a business
// failure of the step itself, since the participant then recorded a refusal and
// changed nothing.
//
// The Outcome lists in Steps the steps whose forward operation succeeded, and
// in Compensated those of them whose compensation then succeeded, in the order
// they were undone; so a COMPENSATED outcome has Compensated equal to Steps
// reversed. The defensive compensation of an in-flight step is run but not
// listed; the history shows it.
//
// The result is the Outcome with a nil error when the order is COMPLETED or
// COMPENSATED (a cancelled order is COMPENSATED with Reason "cancelled").
// When a compensation could not finish, the remaining ones still run and the
// workflow fails with a non-retryable ApplicationError of type
// CompensationFailed whose details hold the FAILED Outcome.
func OrderSaga(ctx workflow.Context, o shop.Order) (shop.Outcome, error) {
	logger := workflow.GetLogger(ctx)
	progress := shop.Progress{Outcome: shop.Outcome{OrderID: o.ID, Status: shop.StatusPending}}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (shop.Progress, error) {
		return progress, nil
	}); err != nil {
		return shop.Outcome{}, fmt.Errorf("register %s query: %w", QueryStatus, err)
	}

	in := activities.InputFor(o)
	var stack []sagaStep
	for _, st := range sagaSteps() {
		if ctx.Err() != nil {
			progress.Reason = ReasonCancelled
			break
		}
		op := st.step.Forward()
		progress.Current = op
		stack = append(stack, st)
		actx := workflow.WithActivityOptions(ctx, activityOptions(o, op))
		err := workflow.ExecuteActivity(actx, st.forward, in).Get(actx, nil)
		if err == nil {
			progress.Steps = append(progress.Steps, st.step)
			logger.Info("step done", "order", o.ID, "op", op)
			continue
		}
		if isRefusal(err) {
			stack = stack[:len(stack)-1]
		}
		if temporal.IsCanceledError(err) {
			progress.Reason = ReasonCancelled
		} else {
			progress.FailedStep = st.step
			progress.Reason = describe(err)
		}
		logger.Info("step did not complete", "order", o.ID, "op", op, "reason", progress.Reason)
		break
	}

	if progress.Reason == "" {
		progress.Current = ""
		progress.Status = shop.StatusCompleted
		logger.Info("order completed", "order", o.ID)
		return progress.Outcome, nil
	}

	failures := compensate(ctx, o, in, stack, &progress)
	progress.Current = ""
	if len(failures) == 0 {
		progress.Status = shop.StatusCompensated
		logger.Info("order compensated", "order", o.ID, "reason", progress.Reason)
		return progress.Outcome, nil
	}
	progress.Status = shop.StatusFailed
	progress.Reason += "; compensation failed: " + strings.Join(failures, "; ")
	logger.Error("order failed: compensation did not finish", "order", o.ID, "reason", progress.Reason)
	return progress.Outcome, temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("order %s: %s", o.ID, progress.Reason), ErrTypeCompensationFailed, nil, progress.Outcome)
}

// compensate runs the compensations on the stack, newest first, on a context
// that a cancel of the workflow does not reach. A failed compensation does not
// stop the others; the failures are returned, one description each.
func compensate(ctx workflow.Context, o shop.Order, in activities.OrderInput, stack []sagaStep, progress *shop.Progress) []string {
	logger := workflow.GetLogger(ctx)
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var failures []string
	for i := len(stack) - 1; i >= 0; i-- {
		st := stack[i]
		op := st.step.Compensation()
		progress.Current = op
		actx := workflow.WithActivityOptions(dctx, activityOptions(o, op))
		if err := workflow.ExecuteActivity(actx, st.compensate, in).Get(actx, nil); err != nil {
			failures = append(failures, fmt.Sprintf("%s: %s", op, describe(err)))
			logger.Error("compensation failed", "order", o.ID, "op", op, "error", err)
			continue
		}
		logger.Info("compensation done", "order", o.ID, "op", op)
		if slices.Contains(progress.Steps, st.step) {
			progress.Compensated = append(progress.Compensated, st.step)
		}
	}
	return failures
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

// isRefusal reports whether an activity failed with a participant's refusal:
// it recorded the refusal and changed nothing.
func isRefusal(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.NonRetryable() && slices.Contains(activities.RefusalTypes, appErr.Type())
}
