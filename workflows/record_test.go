package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// recordEnv turns TestRecordHistories on.
const recordEnv = "ORDERSAGA_RECORD_HISTORY"

// historyCase is one path through OrderSaga and how to drive an order
// down it. Its history is recorded, per version of the workflow, in
// testdata/v<version>/<path>.json, and in testdata/v<version>/local/ for
// the local-activity mode.
type historyCase struct {
	path   string
	faults []string
	// cancelAt cancels the workflow once this operation runs.
	cancelAt shop.Op
	// cancelFailed cancels the workflow while the order is FAILED.
	cancelFailed bool
	// repairs is how many repairs the FAILED order gets; refuseRepairs of
	// them have their refund refused again.
	repairs, refuseRepairs int
	// bare starts the workflow without the OrderStatus search attribute.
	bare bool
	// since is the first version of OrderSaga with this path (0: all).
	since int
	// quantity, when set, is how many books the order has (orderFor's
	// otherwise).
	quantity int
}

// historyCases are the paths of OrderSaga: TestHistoriesCoverPaths fails
// when a version's recorded histories miss one.
var historyCases = []historyCase{
	{path: "completed"},
	{path: "inventory_rejected", faults: []string{"inventory"}},
	{path: "payment_declined", faults: []string{"payment"}},
	{path: "payment_transient", faults: []string{"payment:transient:2"}},
	{path: "retries_used_up", faults: []string{fmt.Sprintf("payment:transient:%d", workflows.ForwardAttempts+2)}},
	{path: "refund_declined_repaired", faults: []string{"shipping", "refund:decline"}, repairs: 1},
	{path: "repair_refused_again", faults: []string{"shipping", "refund:decline"}, repairs: 2, refuseRepairs: 1},
	{path: "cancelled", faults: []string{"shipping:delay:1m"}, cancelAt: shop.OpSchedule},
	{path: "cancelled_during_reserve", faults: []string{"inventory:delay:1m"}, cancelAt: shop.OpReserve},
	{path: "cancelled_during_compensation", faults: []string{"shipping", "refund:delay:1m"}, cancelAt: shop.OpRefund},
	{path: "cancelled_while_failed", faults: []string{"shipping", "refund:decline"}, cancelFailed: true, repairs: 1},
	{path: "started_without_status", bare: true},
	{path: "compensation_retrying", faults: []string{"payment", "release:transient:6"}, since: 3},
	{path: "notify_declined", faults: []string{"notify"}, since: 4},
	{path: "notify_declined_compensated", faults: []string{"payment", "notify"}, since: 4},
	{path: "notify_transient", faults: []string{"notify:transient:2"}, since: 4},
	{path: "fraud_refused", faults: []string{"fraud"}, since: 5},
	{path: "fraud_rule_refused", quantity: fraudQuantity, since: 5},
	{path: "fraud_transient", faults: []string{"check:transient:2"}, since: 5},
}

// fraudQuantity is a number of books whose order the fraud check's rule
// refuses: above shop.FraudLimitCents.
const fraudQuantity = 48

// recordAlertAfter is the recording worker's CompensationAlertAfter: a
// release that fails six times (6.3 s of backoff) outlasts it.
const recordAlertAfter = 2 * time.Second

// TestRecordHistories runs the orders of historyCases on a real Temporal dev
// server and Redis and writes their histories to testdata/v<version>/, in
// the JSON form of `temporal workflow show --output json`. A file that
// exists is kept: histories of a version are recorded once, and a version
// bump records into a new directory. Run it after a versioned change:
//
//	ORDERSAGA_RECORD_HISTORY=1 go test ./workflows/ -run TestRecordHistories
func TestRecordHistories(t *testing.T) {
	if os.Getenv(recordEnv) != "1" {
		t.Skipf("set %s=1 to record the replay histories", recordEnv)
	}
	st := startRealStack(t)
	rdb, c, catalog := st.rdb, st.client, st.catalog
	engine := workflows.NewEngine(c, catalog)
	engine.FailedPoll = 100 * time.Millisecond
	for _, mode := range []workflows.ActivityMode{workflows.ActivitiesRegular, workflows.ActivitiesLocal} {
		if mode == workflows.ActivitiesLocal && workflows.CurrentVersion < workflows.LocalModeVersion {
			continue
		}
		dir := historyDir(workflows.CurrentVersion, mode)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		refuser := &repairRefuser{left: map[string]int{}}
		w := worker.New(c, workflows.TaskQueue, workflows.WorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{refuser}}))
		workflows.Register(w, activities.New(rdb, activities.OrchestrationPrefix, catalog), workflows.Config{Catalog: catalog, Activities: mode, CompensationAlertAfter: recordAlertAfter})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		for _, hc := range historyCases {
			file := filepath.Join(dir, hc.path+".json")
			if hc.since > workflows.CurrentVersion {
				continue
			}
			if _, err := os.Stat(file); err == nil {
				t.Logf("%s: kept", file)
				continue
			}
			o := orderFor(t, fmt.Sprintf("replay-v%d-%s-%s", workflows.CurrentVersion, mode, hc.path), hc.faults)
			if hc.quantity > 0 {
				o.Items[0].Quantity = hc.quantity
			}
			o = o.Priced(catalog)
			refuser.set(o.ID, hc.refuseRepairs)
			out := driveOrder(t, recording{c: c, engine: engine, rdb: rdb, mode: mode}, hc, o)
			writeHistory(t, c, o.ID, file)
			t.Logf("%s: %s", file, out.Status)
		}
		w.Stop()
	}
}

// historyDir is where the histories of a version and mode are kept.
func historyDir(version int, mode workflows.ActivityMode) string {
	dir := filepath.Join("testdata", fmt.Sprintf("v%d", version))
	if mode == workflows.ActivitiesLocal {
		dir = filepath.Join(dir, "local")
	}
	return dir
}

// recording is what TestRecordHistories drives orders with.
type recording struct {
	c      client.Client
	engine *workflows.Engine
	rdb    redis.UniversalClient
	mode   workflows.ActivityMode
}

// waitRunning waits until op of the order runs. A worker that runs a long
// local activity answers no query until it ends, so for a compensation in
// that mode it waits until the shipping participant recorded its refusal:
// the compensation starts at once.
func (r recording) waitRunning(t *testing.T, orderID string, op shop.Op) {
	t.Helper()
	if r.mode != workflows.ActivitiesLocal || !op.IsCompensation() {
		waitCurrent(t, r.c, orderID, op)
		return
	}
	l, err := activities.LayoutOf(context.Background(), r.rdb, activities.OrchestrationPrefix)
	if err != nil {
		t.Fatal(err)
	}
	_, _, ship := l.OrderKeys(orderID)
	err = poll.For(context.Background(), 30*time.Second, poll.Every(20*time.Millisecond), func(ctx context.Context) (bool, error) {
		n, err := r.rdb.Exists(ctx, ship).Result()
		return n == 1, err
	})
	if err != nil {
		t.Fatalf("order %s: the shipping refusal was never recorded: %v", orderID, err)
	}
}

// driveOrder places o and drives it down hc's path.
func driveOrder(t *testing.T, r recording, hc historyCase, o shop.Order) shop.Outcome {
	t.Helper()
	ctx := context.Background()
	c, engine := r.c, r.engine
	if hc.bare {
		if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: shop.WorkflowID(o.ID), TaskQueue: workflows.TaskQueue}, workflows.WorkflowType, o); err != nil {
			t.Fatalf("%s: start: %v", hc.path, err)
		}
	} else if err := engine.Place(ctx, o); err != nil {
		t.Fatalf("%s: place: %v", hc.path, err)
	}
	if hc.cancelAt != "" {
		r.waitRunning(t, o.ID, hc.cancelAt)
		if err := c.CancelWorkflow(ctx, shop.WorkflowID(o.ID), ""); err != nil {
			t.Fatalf("%s: cancel: %v", hc.path, err)
		}
	}
	out, err := engine.Wait(ctx, o.ID)
	if err != nil {
		t.Fatalf("%s: wait: %v", hc.path, err)
	}
	if hc.cancelFailed {
		if err := c.CancelWorkflow(ctx, shop.WorkflowID(o.ID), ""); err != nil {
			t.Fatalf("%s: cancel: %v", hc.path, err)
		}
	}
	for i := 0; i < hc.repairs; i++ {
		if err := engine.Repair(ctx, o.ID); err != nil {
			t.Fatalf("%s: repair %d: %v", hc.path, i+1, err)
		}
		if out, err = engine.Wait(ctx, o.ID); err != nil {
			t.Fatalf("%s: wait after repair %d: %v", hc.path, i+1, err)
		}
	}
	if hc.repairs == 0 && !hc.cancelFailed {
		return out
	}
	// The last repair ended the order: wait for its workflow to close.
	var closed shop.Outcome
	err = c.GetWorkflow(ctx, shop.WorkflowID(o.ID), "").Get(ctx, &closed)
	var canceled *temporal.CanceledError
	if err != nil && !errors.As(err, &canceled) {
		t.Fatalf("%s: workflow result: %v", hc.path, err)
	}
	return out
}

// writeHistory writes the order's history to file, which must not exist.
func writeHistory(t *testing.T, c client.Client, orderID, file string) {
	t.Helper()
	var h historypb.History
	it := c.GetWorkflowHistory(context.Background(), shop.WorkflowID(orderID), "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("%s: history: %v", file, err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatalf("%s: marshal history: %v", file, err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		t.Fatalf("%s exists: recorded histories are never overwritten", file)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// repairRefuser refuses the refund of a repair, as a participant whose
// cause is not fixed yet would, for as many repairs as set per order.
type repairRefuser struct {
	interceptor.WorkerInterceptorBase
	mu   sync.Mutex
	left map[string]int
}

func (r *repairRefuser) set(orderID string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.left[orderID] = n
}

// take reports whether this repair of the order is refused.
func (r *repairRefuser) take(orderID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.left[orderID] <= 0 {
		return false
	}
	r.left[orderID]--
	return true
}

func (r *repairRefuser) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &refuseInbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, r: r}
}

type refuseInbound struct {
	interceptor.ActivityInboundInterceptorBase
	r *repairRefuser
}

func (i *refuseInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	if activity.GetInfo(ctx).ActivityType.Name == "Refund" && len(in.Args) == 1 {
		if oi, ok := in.Args[0].(activities.OrderInput); ok && oi.Repair && i.r.take(oi.OrderID) {
			return nil, temporal.NewNonRetryableApplicationError("refund refused again", activities.FailureType(shop.OpRefund), nil)
		}
	}
	return i.Next.ExecuteActivity(ctx, in)
}

// waitCurrent waits until the order's status query says op runs. It asks
// with a long timeout: a worker that runs a long local activity answers a
// query only when it heartbeats the workflow task.
func waitCurrent(t *testing.T, c client.Client, orderID string, op shop.Op) {
	t.Helper()
	teststack.Eventually(t, time.Minute, 50*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		v, err := c.QueryWorkflow(ctx, shop.WorkflowID(orderID), "", workflows.QueryStatus)
		cancel()
		var p shop.Progress
		if err == nil && v.Get(&p) == nil && p.Current == op {
			return nil
		}
		return fmt.Errorf("%s of order %s never ran: last status %+v, %v", op, orderID, p, err)
	})
}
