package workflows_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"

	"github.com/ordersaga/ordersaga/internal/testenv"
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
	h := workflows.Timeline(recorded(t, "cancelled.json"))
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
	for _, e := range workflows.Timeline(recorded(t, "payment_transient.json")) {
		if e.Name == "ActivityTaskStarted" && e.Op == "charge" {
			if e.Result != workflows.ResultRetry || e.Detail == "" {
				t.Errorf("started charge = %+v, want a retry with its attempt", e)
			}
			return
		}
	}
	t.Fatal("no started charge in the timeline")
}
