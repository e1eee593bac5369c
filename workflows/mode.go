package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/ordersaga/ordersaga/shop"
)

// recordMode records, once, the mode the workflow runs its participants
// in: the worker's mode when the workflow starts, the recorded one when
// it replays, so that a worker of the other mode carries it on unchanged.
func recordMode(ctx workflow.Context, mode ActivityMode) ActivityMode {
	var recorded ActivityMode
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return mode }).Get(&recorded); err != nil {
		workflow.GetLogger(ctx).Error("read the recorded activity mode", "error", err)
		return ActivitiesRegular
	}
	return recorded
}

// execute runs one operation of the order, as an activity or a local
// activity (s.mode), and waits for its end.
//
// A local activity has the same timeout and retry policy; it cannot
// heartbeat, so a cancel reaches it through its context in the worker
// that runs it, and the workflow does not wait for it to stop: the
// compensation that follows is safe because a participant refuses a
// forward operation that arrives after its compensation. A retry whose
// backoff is longer than the SDK's local retry threshold becomes a
// workflow timer, so a local activity that keeps failing backs off like
// a regular one, across workflow tasks.
func (s *saga) execute(ctx workflow.Context, op shop.Op, fn any, in any, summary string) error {
	opts := s.activityOptions(op, summary)
	if s.mode != ActivitiesLocal {
		actx := workflow.WithActivityOptions(ctx, opts)
		return workflow.ExecuteActivity(actx, fn, in).Get(actx, nil)
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: opts.StartToCloseTimeout,
		RetryPolicy:         opts.RetryPolicy,
		Summary:             opts.Summary,
	})
	return workflow.ExecuteLocalActivity(lctx, fn, in).Get(lctx, nil)
}
