package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ordersaga/ordersaga/shop"
)

// awaitRepair leaves the order FAILED with the compensations that failed
// in its reason, and waits for a repair (the UpdateRepair update), however
// long it takes: a cancel of the workflow does not stop the wait. Then it
// runs the compensations of failed again, oldest step last, with
// OrderInput.Repair set and the compensation faults cleared from the fault
// plan, and returns the steps whose compensation failed again.
func (s *saga) awaitRepair(ctx workflow.Context, failed []sagaStep) []sagaStep {
	reason := s.progress.Reason
	s.progress.Current = ""
	s.progress.Status = shop.StatusFailed
	s.progress.Reason = reason + "; compensation failed: " + strings.Join(s.failures, "; ")
	s.failures = nil
	workflow.GetLogger(ctx).Error("order FAILED: a compensation was refused; waiting for a repair",
		"order", s.o.ID, "reason", s.progress.Reason)
	s.details(ctx, fmt.Sprintf("**FAILED**: %s. Waiting for a repair: fix the cause, then `starter repair %s`.", s.progress.Reason, s.o.ID))
	s.upsert(ctx, OrderStatusKey.ValueSet(string(shop.StatusFailed)))
	s.memo(ctx, s.progress.Outcome)
	s.notify(ctx)

	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if err := workflow.Await(dctx, func() bool { return s.repairs > s.repaired }); err != nil {
		// Only a disconnected context's own end could stop Await; keep the
		// order FAILED rather than guess.
		workflow.GetLogger(ctx).Error("wait for a repair", "order", s.o.ID, "error", err)
		return failed
	}
	s.repaired = s.repairs
	s.progress.Status = shop.StatusPending
	s.progress.Reason = reason
	s.upsert(ctx, OrderStatusKey.ValueSet(string(shop.StatusPending)))
	s.memo(ctx, nil)
	workflow.GetLogger(ctx).Info("repairing order", "order", s.o.ID)

	in := s.in
	in.Repair = true
	in.Faults = withoutCompensationFaults(in.Faults)
	return s.compensate(ctx, failed, in, true)
}

// validateRepair accepts a repair only while the order is FAILED; a
// repair that comes while another runs, or after one ended the order, says
// so. It must not change the workflow's state.
func (s *saga) validateRepair() error {
	switch {
	case s.progress.Status == shop.StatusFailed:
		return nil
	case s.repairs > 0 && s.progress.Status == shop.StatusPending:
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("order %s: %v", s.o.ID, shop.ErrRepairRunning), ErrTypeRepairRunning, nil)
	case s.repairs > 0:
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("order %s is %s: %v", s.o.ID, s.progress.Status, shop.ErrRepaired), ErrTypeRepaired, nil)
	}
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("order %s is %s: %v", s.o.ID, s.progress.Status, shop.ErrNotRepairable), ErrTypeNotRepairable, nil)
}

// requestRepair is the UpdateRepair handler: the saga, waiting in
// awaitRepair, starts the repair. The order is PENDING from now on, so a
// second repair is rejected until this one has ended.
func (s *saga) requestRepair(workflow.Context) error {
	s.repairs++
	s.progress.Status = shop.StatusPending
	return nil
}

// memo sets or, with a nil outcome, removes the MemoOutcome memo field.
func (s *saga) memo(ctx workflow.Context, out any) {
	if s.version < versionStory {
		return
	}
	if err := workflow.UpsertMemo(ctx, map[string]any{MemoOutcome: out}); err != nil {
		workflow.GetLogger(ctx).Error("upsert memo", "order", s.o.ID, "error", err)
	}
}

// withoutCompensationFaults returns a copy of plan without the faults of
// compensations: a repair runs them once their cause is fixed, and for an
// injected fault the repair is what fixes it.
func withoutCompensationFaults(plan shop.FaultPlan) shop.FaultPlan {
	out := shop.FaultPlan{}
	for op, f := range plan {
		if !op.IsCompensation() {
			out[op] = f
		}
	}
	return out
}
