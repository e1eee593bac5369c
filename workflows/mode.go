package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/ordersaga/ordersaga/internal/platform/telemetry"
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
	return s.start(ctx, op, fn, in, summary).Get(ctx, nil)
}

// start starts one operation (see execute) and returns its future.
func (s *saga) start(ctx workflow.Context, op shop.Op, fn any, in any, summary string) workflow.Future {
	opts := s.activityOptions(op, summary)
	if s.mode != ActivitiesLocal {
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), fn, in)
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: opts.StartToCloseTimeout,
		RetryPolicy:         opts.RetryPolicy,
		Summary:             opts.Summary,
	})
	return workflow.ExecuteLocalActivity(lctx, fn, in)
}

// watched runs a compensation like execute; from versionCompensationWatch
// on, a timer of Config.CompensationAlertAfter runs beside it, and when it
// fires first the order is COMPENSATING (status query, OrderStatus search
// attribute, a metric) until the compensation ends. The compensation
// itself is not touched: it still retries without limit.
func (s *saga) watched(ctx workflow.Context, op shop.Op, fn any, in any, summary string) error {
	if s.version < versionCompensationWatch {
		return s.execute(ctx, op, fn, in, summary)
	}
	started := workflow.Now(ctx)
	f := s.start(ctx, op, fn, in, summary)
	tctx, stopTimer := workflow.WithCancel(ctx)
	timer := workflow.NewTimer(tctx, s.cfg.CompensationAlertAfter)
	alerted := false
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(f, func(workflow.Future) {})
	sel.AddFuture(timer, func(workflow.Future) {
		alerted = true
		s.progress.Status = shop.StatusCompensating
		s.progress.RetryingSince = &started
		s.upsert(ctx, OrderStatusKey.ValueSet(string(shop.StatusCompensating)))
		s.details(ctx, fmt.Sprintf("**COMPENSATING**: %s has been retrying since %s", op, started.UTC().Format(time.RFC3339)))
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"engine": telemetry.EngineOrchestration, "op": string(op)}).
			Counter(telemetry.CompensationsRetryingName).Inc(1)
	})
	sel.Select(ctx)
	err := f.Get(ctx, nil)
	stopTimer()
	if alerted {
		s.progress.Status = shop.StatusPending
		s.progress.RetryingSince = nil
		s.upsert(ctx, OrderStatusKey.ValueSet(string(shop.StatusPending)))
	}
	return err
}
