package workflows_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"

	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/workflows"
)

func recorded(t *testing.T, name string) []*historypb.HistoryEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "workflows", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var h historypb.History
	if err := (temporalproto.CustomJSONUnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &h); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return h.Events
}

// TestTimelineCancelled renders the recorded history of an order cancelled
// while shipping ran.
func TestTimelineCancelled(t *testing.T) {
	h := workflows.Timeline(recorded(t, "v0/cancelled.json"))
	var got []string
	for _, e := range h {
		got = append(got, e.Name+" "+string(e.Op)+" "+e.Result)
	}
	want := []string{
		"WorkflowExecutionStarted  ",
		"ActivityTaskScheduled reserve ", "ActivityTaskStarted reserve ", "ActivityTaskCompleted reserve ok",
		"ActivityTaskScheduled charge ", "ActivityTaskStarted charge ", "ActivityTaskCompleted charge ok",
		"ActivityTaskScheduled schedule ",
		"WorkflowExecutionCancelRequested  ",
		"ActivityTaskCancelRequested schedule ",
		"ActivityTaskScheduled cancel ", "ActivityTaskStarted cancel ", "ActivityTaskCompleted cancel ok",
		"ActivityTaskScheduled refund ", "ActivityTaskStarted refund ", "ActivityTaskCompleted refund ok",
		"ActivityTaskScheduled release ", "ActivityTaskStarted release ", "ActivityTaskCompleted release ok",
		"WorkflowExecutionCompleted  ok",
	}
	if !slices.Equal(got, want) {
		t.Errorf("timeline =\n%q\nwant\n%q", got, want)
	}
	for _, e := range h {
		if e.Name == "ActivityTaskCompleted" && (e.Source != workflows.SourceWorker || e.Duration <= 0) {
			t.Errorf("%s of %s: source %q, duration %s; want the worker and a positive duration", e.Name, e.Op, e.Source, e.Duration)
		}
	}
}

// TestTimelineRetries: the started entry of a retried activity says so.
func TestTimelineRetries(t *testing.T) {
	for _, e := range workflows.Timeline(recorded(t, "v0/payment_transient.json")) {
		if e.Name == "ActivityTaskStarted" && e.Op == "charge" {
			if e.Result != workflows.ResultRetry || e.Detail == "" {
				t.Errorf("started charge = %+v, want a retry with its attempt", e)
			}
			return
		}
	}
	t.Fatal("no started charge in the timeline")
}

// TestTimelineCancelledCanceled renders an order cancelled while shipping
// ran, recorded since cancelled orders end in the Canceled state: the
// running step stops before anything is compensated, and the last entry
// carries the COMPENSATED outcome.
func TestTimelineCancelledCanceled(t *testing.T) {
	h := workflows.Timeline(recorded(t, "v1/cancelled.json"))
	var got []string
	for _, e := range h {
		if e.Name == "WorkflowExecutionCancelRequested" && strings.HasPrefix(e.Detail, "by ") {
			e.Detail = "by …" // who asked
		}
		if e.Name != "ActivityTaskStarted" {
			got = append(got, e.Name+" "+string(e.Op)+" "+e.Result+" "+e.Detail)
		}
	}
	want := []string{
		"WorkflowExecutionStarted   OrderSaga on task queue ordersaga",
		"ActivityTaskScheduled reserve  Reserve: reserve book:2", "ActivityTaskCompleted reserve ok ",
		"ActivityTaskScheduled charge  Charge: charge 84.00", "ActivityTaskCompleted charge ok 8400",
		"ActivityTaskScheduled schedule  Schedule: schedule shipment of book:2",
		"WorkflowExecutionCancelRequested   by …",
		"ActivityTaskCancelRequested schedule  ",
		"ActivityTaskCanceled schedule fail ",
		"ActivityTaskScheduled cancel  Cancel: defensive cancel: schedule was still in flight", "ActivityTaskCompleted cancel ok nothing scheduled",
		"ActivityTaskScheduled refund  Refund: refund 84.00 after the cancel", "ActivityTaskCompleted refund ok 8400",
		"ActivityTaskScheduled release  Release: release book:2 after the cancel", "ActivityTaskCompleted release ok released",
		"WorkflowExecutionCanceled  ok COMPENSATED: cancelled",
	}
	if !slices.Equal(got, want) {
		t.Errorf("timeline =\n%q\nwant\n%q", got, want)
	}
}

// TestTimelineRepaired renders an order whose refund was refused, then
// repaired: the FAILED outcome, the repair, and the refund it ran with the
// result "repaired", which keeps the compensation order check clean.
func TestTimelineRepaired(t *testing.T) {
	h := workflows.Timeline(recorded(t, "v1/refund_declined_repaired.json"))
	var got []string
	for _, e := range h {
		if e.Name != "ActivityTaskStarted" && e.Name != "ActivityTaskScheduled" {
			got = append(got, e.Name+" "+string(e.Op)+" "+e.Result)
		}
	}
	want := []string{
		"WorkflowExecutionStarted  ",
		"ActivityTaskCompleted reserve ok", "ActivityTaskCompleted charge ok", "ActivityTaskFailed schedule fail",
		"ActivityTaskFailed refund fail", "ActivityTaskCompleted release ok",
		"WorkflowPropertiesModified  fail",
		"WorkflowExecutionUpdateAccepted  ",
		"ActivityTaskCompleted refund repaired",
		"WorkflowExecutionCompleted  ok",
	}
	if !slices.Equal(got, want) {
		t.Errorf("timeline =\n%q\nwant\n%q", got, want)
	}
	for _, e := range h {
		if e.Name == "WorkflowPropertiesModified" && !strings.Contains(e.Detail, "FAILED at shipping") {
			t.Errorf("FAILED entry = %+v, want the FAILED outcome", e)
		}
	}
	if err := verify.CompensationOrder(h); err != nil {
		t.Errorf("compensation order: %v", err)
	}
}
