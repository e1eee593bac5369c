package workflows_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// recordEnv turns TestRecordHistories on.
const recordEnv = "ORDERSAGA_RECORD_HISTORY"

// legacyHistories were recorded by version 0 of OrderSaga (before search
// attributes, heartbeats, the Canceled state and repairs). They are kept,
// never recorded again: workflows that started on that version must still
// replay.
var legacyHistories = []string{
	"completed.json", "payment_declined.json", "payment_transient.json", "refund_declined.json", "cancelled.json",
}

// historyCases are the orders whose histories TestRecordHistories records
// with the current OrderSaga; the replay test replays them and the legacy ones.
var historyCases = []struct {
	file   string
	faults []string
	cancel bool // cancel the workflow once shipping runs
	repair bool // repair the FAILED order
}{
	{file: "v1_completed.json"},
	{file: "v1_payment_declined.json", faults: []string{"payment"}},
	{file: "v1_payment_transient.json", faults: []string{"payment:transient:2"}},
	{file: "v1_refund_declined_repaired.json", faults: []string{"shipping", "refund:decline"}, repair: true},
	{file: "v1_cancelled.json", faults: []string{"shipping:delay:1m"}, cancel: true},
}

// TestRecordHistories runs the orders of historyCases on a real Temporal dev
// server and Redis and writes their histories to testdata/, in the JSON form
// of `temporal workflow show --output json`. Run it after a deliberate change
// to the workflow:
//
//	ORDERSAGA_RECORD_HISTORY=1 go test ./workflows/ -run TestRecordHistories
func TestRecordHistories(t *testing.T) {
	if os.Getenv(recordEnv) != "1" {
		t.Skipf("set %s=1 to record the replay histories", recordEnv)
	}
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client()
	tsrv := testenv.StartTemporal(t)
	catalog := shop.DefaultCatalog()
	if err := workflows.Seed(ctx, rdb, catalog); err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: tsrv.Address, Namespace: tsrv.Namespace, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	w := workflows.NewWorker(c, rdb, catalog, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	engine := workflows.NewEngine(c, catalog)

	for _, hc := range historyCases {
		o := orderFor(t, "replay-"+strings.TrimSuffix(hc.file, filepath.Ext(hc.file)), hc.faults)
		if err := engine.Place(ctx, o); err != nil {
			t.Fatalf("%s: place: %v", hc.file, err)
		}
		if hc.cancel {
			waitRunning(t, engine, o.ID, shop.OpSchedule)
			if err := c.CancelWorkflow(ctx, shop.WorkflowID(o.ID), ""); err != nil {
				t.Fatalf("%s: cancel: %v", hc.file, err)
			}
		}
		out, err := engine.Wait(ctx, o.ID)
		if err != nil {
			t.Fatalf("%s: wait: %v", hc.file, err)
		}
		if hc.repair {
			if err := engine.Repair(ctx, o.ID); err != nil {
				t.Fatalf("%s: repair: %v", hc.file, err)
			}
			if out, err = engine.Wait(ctx, o.ID); err != nil {
				t.Fatalf("%s: wait after the repair: %v", hc.file, err)
			}
		}
		var h historypb.History
		it := c.GetWorkflowHistory(ctx, shop.WorkflowID(o.ID), "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatalf("%s: history: %v", hc.file, err)
			}
			h.Events = append(h.Events, ev)
		}
		b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
		if err != nil {
			t.Fatalf("%s: marshal history: %v", hc.file, err)
		}
		if err := os.WriteFile(filepath.Join("testdata", hc.file), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s, %d events", hc.file, out.Status, len(h.Events))
	}
}

func waitRunning(t *testing.T, e *workflows.Engine, orderID string, op shop.Op) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := e.Status(context.Background(), orderID)
		if err == nil && p.Current == op {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s of order %s never ran: last status %+v, %v", op, orderID, p, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
