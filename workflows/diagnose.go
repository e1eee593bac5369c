package workflows

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/ordersaga/ordersaga/shop"
)

// StuckAfter is how long a task must wait on its task queue before
// Diagnose calls it stuck; pollSlack is how late after the task the last
// poll may be recorded: the server records a poll when it ends too, so a
// worker that stopped just before shows a poll a moment after the task.
const StuckAfter, pollSlack = time.Second, 500 * time.Millisecond

// Diagnose says why an order's workflow does not move when no worker takes
// its tasks: a workflow or activity task has waited on the task queue for
// StuckAfter, and no worker polled it since (a worker that polls gets a new
// task at once). It returns nothing for a closed workflow, or when every
// task is taken or waits for a retry.
func (e *Engine) Diagnose(ctx context.Context, orderID string) ([]string, error) {
	d, err := e.client.DescribeWorkflowExecution(ctx, shop.WorkflowID(orderID), "")
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("diagnose order %s: %w", orderID, shop.ErrUnknownOrder)
		}
		return nil, fmt.Errorf("diagnose order %s: %w", orderID, err)
	}
	info := d.GetWorkflowExecutionInfo()
	if info.GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return nil, nil
	}
	queue := info.GetTaskQueue()
	var out []string
	if wt := d.GetPendingWorkflowTask(); wt.GetState() == enums.PENDING_WORKFLOW_TASK_STATE_SCHEDULED {
		msg, err := e.unpolled(ctx, queue, enums.TASK_QUEUE_TYPE_WORKFLOW, "its workflow task", wt.GetScheduledTime().AsTime())
		if err != nil {
			return nil, err
		}
		out = append(out, msg...)
	}
	for _, a := range d.GetPendingActivities() {
		next := a.GetNextAttemptScheduleTime()
		if a.GetState() != enums.PENDING_ACTIVITY_STATE_SCHEDULED || next != nil && next.AsTime().After(time.Now()) {
			continue
		}
		since := a.GetScheduledTime().AsTime()
		if next != nil {
			since = next.AsTime()
		}
		what := fmt.Sprintf("its activity %s (attempt %d)", a.GetActivityType().GetName(), a.GetAttempt())
		msg, err := e.unpolled(ctx, queue, enums.TASK_QUEUE_TYPE_ACTIVITY, what, since)
		if err != nil {
			return nil, err
		}
		out = append(out, msg...)
	}
	return out, nil
}

// unpolled says that no worker polls queue for tasks of type tt when a task
// (what) has waited since scheduled, longer than StuckAfter, and no poller
// was seen after it was scheduled.
func (e *Engine) unpolled(ctx context.Context, queue string, tt enums.TaskQueueType, what string, scheduled time.Time) ([]string, error) {
	waited := time.Since(scheduled)
	if scheduled.IsZero() || waited < StuckAfter {
		return nil, nil
	}
	resp, err := e.client.DescribeTaskQueue(ctx, queue, tt)
	if err != nil {
		return nil, fmt.Errorf("describe task queue %s: %w", queue, err)
	}
	last := lastPoll(resp)
	if last.After(scheduled.Add(pollSlack)) {
		return nil, nil
	}
	kind := "workflow"
	if tt == enums.TASK_QUEUE_TYPE_ACTIVITY {
		kind = "activity"
	}
	seen := "no worker has polled it lately"
	if !last.IsZero() {
		seen = fmt.Sprintf("the last poll ended at %s", last.Local().Format("15:04:05"))
	}
	return []string{fmt.Sprintf("no worker polls the task queue %s for %s tasks: %s has waited %s and %s; start the worker (`worker`, `make up` or `docker compose up -d worker`)",
		queue, kind, what, waited.Round(100*time.Millisecond), seen)}, nil
}

// lastPoll is the latest poll any worker made on the task queue, zero if none.
func lastPoll(resp *workflowservice.DescribeTaskQueueResponse) time.Time {
	var last time.Time
	for _, p := range resp.GetPollers() {
		if p.GetLastAccessTime() == nil {
			continue
		}
		if t := p.GetLastAccessTime().AsTime(); t.After(last) {
			last = t
		}
	}
	return last
}
