package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// Sources of timeline entries: what the workflow decided, and what a worker
// reported while running an activity.
const (
	SourceWorkflow = "workflow"
	SourceWorker   = "worker"
)

// Results of timeline entries.
const (
	ResultOK    = "ok"
	ResultFail  = "fail"
	ResultRetry = "retry"
	// ResultRepaired is the result of a compensation that succeeded when a
	// repair ran it again, after it had been refused.
	ResultRepaired = "repaired"
)

// OpOfActivity returns the operation an activity type name runs: the names
// are those of the participants' methods, as the worker registers them.
func OpOfActivity(activityType string) (shop.Op, bool) {
	switch activityType {
	case "Reserve":
		return shop.OpReserve, true
	case "Release":
		return shop.OpRelease, true
	case "Check":
		return shop.OpCheck, true
	case "Charge":
		return shop.OpCharge, true
	case "Refund":
		return shop.OpRefund, true
	case "Schedule":
		return shop.OpSchedule, true
	case "Cancel":
		return shop.OpCancel, true
	case "Notify":
		return shop.OpNotify, true
	}
	return "", false
}

// Timeline renders workflow history events as an order's timeline, oldest
// first. It keeps the workflow's own lifecycle (started, cancel requested,
// completed, failed, cancelled, …), the order turning FAILED (its outcome
// written to the memo) and a repair being accepted, and every activity's
// scheduled, started and closing events; workflow tasks and other
// bookkeeping are left out. A scheduled activity's detail is its type and,
// when it has one, its summary ("Refund: refund 42.00 after ShipmentFailed").
//
// An ActivityTaskStarted entry carries the attempt that finished: the server
// records only the last attempt, so an attempt above 1 is shown with result
// "retry" and the failure of the attempt before it. The closing entry of an
// activity carries its result and its duration from when it was scheduled,
// retries and backoff included. A compensation that succeeds after a repair
// was accepted has the result "repaired".
func Timeline(events []*historypb.HistoryEvent) []shop.Event {
	var t timeline
	for _, ev := range events {
		t.add(ev)
	}
	return t.events
}

type scheduled struct {
	op   shop.Op
	name string
	at   time.Time
}

type timeline struct {
	events    []shop.Event
	started   time.Time
	scheduled map[int64]scheduled
	// repairing: a repair was accepted.
	repairing bool
}

func (t *timeline) add(ev *historypb.HistoryEvent) {
	at := ev.GetEventTime().AsTime()
	e := shop.Event{Time: at, Name: ev.GetEventType().String(), Source: SourceWorkflow}
	if !t.lifecycle(ev, &e) && !t.activity(ev, &e) {
		return
	}
	t.events = append(t.events, e)
}

// lifecycle fills in e for an event of the workflow's own lifecycle and
// reports whether ev is one.
func (t *timeline) lifecycle(ev *historypb.HistoryEvent, e *shop.Event) bool {
	at := e.Time
	switch ev.GetEventType() {
	case enums.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
		t.started = at
		a := ev.GetWorkflowExecutionStartedEventAttributes()
		e.Detail = fmt.Sprintf("%s on task queue %s", a.GetWorkflowType().GetName(), a.GetTaskQueue().GetName())

	case enums.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
		e.Result, e.Duration = ResultOK, t.since(at)
		var out shop.Outcome
		if err := converter.GetDefaultDataConverter().FromPayloads(ev.GetWorkflowExecutionCompletedEventAttributes().GetResult(), &out); err == nil {
			e.Detail = describeOutcome(out)
		}

	case enums.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
		e.Result, e.Duration = ResultFail, t.since(at)
		e.Detail = describeFailure(ev.GetWorkflowExecutionFailedEventAttributes().GetFailure())

	case enums.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
		e.Result, e.Duration = ResultFail, t.since(at)

	case enums.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
		e.Result, e.Duration = ResultFail, t.since(at)
		e.Detail = ev.GetWorkflowExecutionTerminatedEventAttributes().GetReason()

	case enums.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
		e.Result, e.Duration = ResultFail, t.since(at)
		var out shop.Outcome
		if err := converter.GetDefaultDataConverter().FromPayloads(ev.GetWorkflowExecutionCanceledEventAttributes().GetDetails(), &out); err == nil && out.Status != "" {
			e.Result, e.Detail = ResultOK, describeOutcome(out)
		}

	case enums.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
		a := ev.GetWorkflowExecutionCancelRequestedEventAttributes()
		e.Detail = strings.TrimSpace(a.GetCause() + " by " + a.GetIdentity())

	case enums.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
		p := ev.GetWorkflowPropertiesModifiedEventAttributes().GetUpsertedMemo().GetFields()[MemoOutcome]
		var out shop.Outcome
		if p == nil || converter.GetDefaultDataConverter().FromPayload(p, &out) != nil || out.Status != shop.StatusFailed {
			return false
		}
		e.Result, e.Duration = ResultFail, t.since(at)
		e.Detail = describeOutcome(out) + " (waiting for a repair)"

	case enums.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
		a := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest()
		if a.GetInput().GetName() != UpdateRepair {
			return false
		}
		t.repairing = true
		e.Detail = strings.TrimSpace("repair accepted, requested by " + a.GetMeta().GetIdentity())

	default:
		return false
	}
	return true
}

// activity fills in e for an activity's event and reports whether ev is one.
func (t *timeline) activity(ev *historypb.HistoryEvent, e *shop.Event) bool {
	switch ev.GetEventType() {
	case enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		t.scheduleActivity(ev, e)

	case enums.EVENT_TYPE_ACTIVITY_TASK_STARTED:
		a := ev.GetActivityTaskStartedEventAttributes()
		e.Op, e.Source = t.scheduled[a.GetScheduledEventId()].op, SourceWorker
		e.Detail = fmt.Sprintf("attempt %d", a.GetAttempt())
		if a.GetAttempt() > 1 {
			e.Result = ResultRetry
			if lf := a.GetLastFailure(); lf != nil {
				e.Detail += "; previous attempt: " + describeFailure(lf)
			}
		}

	case enums.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
		a := ev.GetActivityTaskCompletedEventAttributes()
		result := ResultOK
		if op := t.scheduled[a.GetScheduledEventId()].op; t.repairing && op.IsCompensation() {
			result = ResultRepaired
		}
		t.closeActivity(e, a.GetScheduledEventId(), result)
		var res activities.Result
		if err := converter.GetDefaultDataConverter().FromPayloads(a.GetResult(), &res); err == nil {
			e.Detail = res.Detail
			if res.Duplicate {
				e.Detail = strings.TrimSpace(e.Detail + " (already done)")
			}
		}

	case enums.EVENT_TYPE_ACTIVITY_TASK_FAILED:
		a := ev.GetActivityTaskFailedEventAttributes()
		t.closeActivity(e, a.GetScheduledEventId(), ResultFail)
		e.Detail = describeFailure(a.GetFailure())

	case enums.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
		a := ev.GetActivityTaskTimedOutEventAttributes()
		t.closeActivity(e, a.GetScheduledEventId(), ResultFail)
		e.Detail = describeFailure(a.GetFailure())

	case enums.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED:
		e.Op = t.scheduled[ev.GetActivityTaskCancelRequestedEventAttributes().GetScheduledEventId()].op

	case enums.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
		a := ev.GetActivityTaskCanceledEventAttributes()
		t.closeActivity(e, a.GetScheduledEventId(), ResultFail)

	default:
		return false
	}
	return true
}

// scheduleActivity remembers a scheduled activity's operation for the
// entries that follow, and names it with its summary.
func (t *timeline) scheduleActivity(ev *historypb.HistoryEvent, e *shop.Event) {
	name := ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
	op, _ := OpOfActivity(name)
	if t.scheduled == nil {
		t.scheduled = make(map[int64]scheduled)
	}
	t.scheduled[ev.GetEventId()] = scheduled{op: op, name: name, at: e.Time}
	e.Op, e.Detail = op, name
	var summary string
	if p := ev.GetUserMetadata().GetSummary(); p != nil && converter.GetDefaultDataConverter().FromPayload(p, &summary) == nil && summary != "" {
		e.Detail = name + ": " + plainText(summary)
	}
}

// closeActivity fills in what every closing entry of an activity has.
func (t *timeline) closeActivity(e *shop.Event, scheduledID int64, result string) {
	s := t.scheduled[scheduledID]
	e.Op, e.Source, e.Result = s.op, SourceWorker, result
	if !s.at.IsZero() {
		e.Duration = e.Time.Sub(s.at)
	}
}

func (t *timeline) since(at time.Time) time.Duration {
	if t.started.IsZero() {
		return 0
	}
	return at.Sub(t.started)
}

func describeOutcome(o shop.Outcome) string {
	s := string(o.Status)
	if o.FailedStep != "" {
		s += " at " + string(o.FailedStep)
	}
	if o.Reason != "" {
		s += ": " + o.Reason
	}
	return s
}

// describeFailure returns "Type: message" for application failures and the
// message otherwise, followed by its causes.
func describeFailure(f *failurepb.Failure) string {
	var parts []string
	for ; f != nil; f = f.GetCause() {
		msg := f.GetMessage()
		if typ := f.GetApplicationFailureInfo().GetType(); typ != "" {
			msg = typ + ": " + msg
		}
		parts = append(parts, msg)
	}
	return strings.Join(parts, ": ")
}
