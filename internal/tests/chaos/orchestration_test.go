package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// TestOrchestrationUnderChaos, on each Temporal backend: the Temporal
// server keeps its state in a file (dev server) or in PostgreSQL, Redis in
// its append-only file; mid-run the worker process is SIGKILLed and
// restarted, redis-server is killed and restarted, the Temporal server
// itself is killed and restarted on its database, and Redis is held down in
// the middle of a compensation for longer than compensations were once
// allowed to retry. Orders are placed twice (rejected) and workflows with
// malformed input are started directly. Afterwards every order is terminal,
// none FAILED, and verify holds.
func TestOrchestrationUnderChaos(t *testing.T) {
	for _, backend := range testenv.TemporalBackends {
		t.Run(backend, func(t *testing.T) { orchestrationUnderChaos(t, backend) })
	}
}

func orchestrationUnderChaos(t *testing.T, backend string) {
	const n = 200
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st := startOrchestrationStack(ctx, t, backend, "--appendonly", "yes", "--appendfsync", "always")
	srv, rdb, catalog, temporal, tc, addr := st.srv, st.rdb, st.catalog, st.temporal, st.tc, st.tcmd.Address

	// A short backoff cap, so that the outage below outlasts the old budget
	// of 25 attempts in seconds rather than minutes.
	worker := newProc(t, "worker", workerBin, env("REDIS_URL", srv.URL(), "TEMPORAL_ADDRESS", addr),
		"--services", "orchestration", "--log-level", "warn", "--compensation-max-backoff", "200ms")
	worker.start()

	engine := workflows.NewEngine(tc, catalog)
	r := &runner{engine: engine}
	orders := workload(11, n, "orch")

	var did []string
	var outage redisOutage
	var mu sync.Mutex
	note := func(s string) { mu.Lock(); did = append(did, s); mu.Unlock() }
	var dupRejected, dupAccepted, malformed atomic.Int64
	chaosCtx, stopChaos := context.WithCancel(ctx)
	var chaos sync.WaitGroup
	chaos.Add(2)
	go func() {
		defer chaos.Done()
		at(chaosCtx, r, n/5, func() {
			worker.kill()
			note("SIGKILL the worker, down 1s, restarted")
			time.Sleep(time.Second)
			worker.start()
		})
		at(chaosCtx, r, 2*n/5, func() {
			srv.Restart()
			note("SIGKILL redis-server and restart it from its append-only file")
		})
		at(chaosCtx, r, 3*n/5, func() {
			temporal.kill()
			temporal.start()
			note("SIGKILL the Temporal server (" + backend + ") and restart it on its database")
		})
		at(chaosCtx, r, 4*n/5, func() {
			// Not chaosCtx: Redis must come back even when the orders are done.
			outage.hold(ctx, t, engine, tc, srv)
			note(fmt.Sprintf("redis-server held down %s while %s's refund ran, until it had failed %d times",
				outage.down.Round(time.Second), outage.id, outage.attempts))
		})
	}()
	// Duplicates and malformed starts.
	go func() {
		defer chaos.Done()
		for i := 0; i < n && chaosCtx.Err() == nil; i += 10 {
			whenPlaced(chaosCtx, r, orders[i].ID, func() {
				err := engine.Place(chaosCtx, orders[i])
				switch {
				case errors.Is(err, shop.ErrDuplicateOrder):
					dupRejected.Add(1)
				case err == nil:
					dupAccepted.Add(1)
				}
			})
		}
	}()
	for i := range 3 {
		bad := shop.Order{ID: "orch-malformed-" + itoa(i), Items: []shop.Item{{SKU: "sofa", Quantity: i}}}
		opts := client.StartWorkflowOptions{ID: shop.WorkflowID(bad.ID), TaskQueue: workflows.TaskQueue,
			WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE}
		if _, err := tc.ExecuteWorkflow(ctx, opts, workflows.OrderSaga, bad); err != nil {
			t.Fatalf("start malformed workflow: %v", err)
		}
		malformed.Add(1)
	}

	start := time.Now()
	r.run(ctx, t, orders, 16)
	stopChaos()
	chaos.Wait()
	if outage.id == "" || outage.attempts <= oldCompensationAttempts {
		t.Errorf("the refund retried %d times while Redis was down, want more than the old budget of %d", outage.attempts, oldCompensationAttempts)
	} else if out, err := r.wait(ctx, outage.id); err != nil || out.Status != shop.StatusCompensated ||
		!slices.Equal(out.Compensated, []shop.Step{shop.StepPayment, shop.StepInventory}) {
		t.Errorf("order %s, compensating through the outage: %+v %v, want COMPENSATED, payment and inventory undone", outage.id, out, err)
	}
	for i := range 3 {
		out, err := r.wait(ctx, "orch-malformed-"+itoa(i))
		if err != nil || out.Status != shop.StatusCompensated || out.FailedStep != shop.StepInventory {
			t.Errorf("malformed order %d: %+v %v, want COMPENSATED at inventory", i, out, err)
		}
	}
	if t.Failed() {
		return
	}
	src := engine.WithRedis(rdb)
	var rep verify.Report
	var err error
	// Checks that fail are tried again; the last report after 60 s is judged below.
	_ = poll.For(ctx, 60*time.Second, poll.Every(500*time.Millisecond), func(context.Context) (bool, error) {
		rep, err = verify.Check(ctx, rdb, src, catalog, verify.Options{})
		return err == nil && rep.OK(), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("orchestration chaos: %s", join(did...))
	t.Logf("  %d orders in %s, %d duplicate placements rejected, %d malformed workflows, %d client retries through outages",
		n, time.Since(start).Round(time.Millisecond), dupRejected.Load(), malformed.Load(), r.retries.Load())
	t.Logf("  outcomes %v; verify: %d orders %v, %d histories checked, %d violations",
		r.counts(), rep.Orders, rep.Statuses, rep.Histories, len(rep.Violations))
	if want := n + int(malformed.Load()) + 1; rep.Orders != want {
		t.Errorf("verify saw %d orders, want %d", rep.Orders, want)
	}
	for _, v := range rep.Violations {
		t.Errorf("violation: %s", v)
	}
	if dupAccepted.Load() != 0 || dupRejected.Load() == 0 {
		t.Errorf("duplicate placements: %d accepted, %d rejected", dupAccepted.Load(), dupRejected.Load())
	}
	if len(did) != 4 {
		t.Errorf("chaos did not all happen: %v", did)
	}
	if got := r.counts(); got[shop.StatusCompleted] == 0 || got[shop.StatusCompensated] == 0 || got[shop.StatusFailed] != 0 {
		t.Errorf("outcomes %v: want completed and compensated orders and none FAILED", got)
	}
}

// orchestrationStack is a Temporal server, run as a process the test can
// kill, and a Redis seeded with the orchestration's catalog.
type orchestrationStack struct {
	tcmd     *testenv.TemporalCmd
	temporal *proc
	tc       client.Client
	srv      *testenv.RedisServer
	rdb      *redis.Client
	catalog  shop.Catalog
}

// startOrchestrationStack starts one on backend, redis-server with
// redisArgs; the client closes when the test ends.
func startOrchestrationStack(ctx context.Context, t *testing.T, backend string, redisArgs ...string) *orchestrationStack {
	t.Helper()
	st := &orchestrationStack{tcmd: testenv.NewTemporalCmd(t, backend), srv: testenv.StartRedis(t, redisArgs...), catalog: shop.DefaultCatalog()}
	st.rdb = st.srv.Client()
	if err := activities.Seed(ctx, st.rdb, activities.OrchestrationPrefix, st.catalog); err != nil {
		t.Fatal(err)
	}
	st.temporal = newProc(t, "temporal", st.tcmd.Bin, st.tcmd.Env, st.tcmd.Args...)
	st.temporal.start()
	tc, err := st.tcmd.Ready(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	st.tc = tc
	return st
}

// oldCompensationAttempts is how many attempts a compensation had before
// compensations retried transient failures without limit.
const oldCompensationAttempts = 25

// redisOutage is one outage of Redis in the middle of a compensation.
type redisOutage struct {
	id       string        // the order compensating
	attempts int32         // the attempts its refund had made when Redis came back
	down     time.Duration // how long Redis was down
}

// hold places an order whose shipment is declined and whose refund fails
// its first attempts, stops redis-server as soon as the refund runs, and
// keeps it down until the refund has failed more often than the old budget
// allowed; then it starts Redis again on its append-only file.
func (o *redisOutage) hold(ctx context.Context, t *testing.T, engine *workflows.Engine, tc client.Client, srv *testenv.RedisServer) {
	o.id = "orch-outage"
	order := shop.Order{ID: o.id, Customer: "chaos", Items: []shop.Item{{SKU: "lamp", Quantity: 1}}, Faults: shop.FaultPlan{
		shop.OpSchedule: {Kind: shop.FaultDecline},
		shop.OpRefund:   {Kind: shop.FaultTransient, Attempts: 3},
	}}
	if err := engine.Place(ctx, order); err != nil {
		t.Errorf("place %s: %v", o.id, err)
		return
	}
	for {
		p, err := engine.Status(ctx, o.id)
		if err == nil && p.Current == shop.OpRefund {
			break
		}
		if ctx.Err() != nil || (err == nil && p.Status.Terminal()) {
			t.Errorf("order %s: the refund never ran: %+v %v", o.id, p, err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.Stop()
	start := time.Now()
	defer func() {
		o.down = time.Since(start)
		srv.Restart()
	}()
	for o.attempts <= oldCompensationAttempts+2 && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		d, err := tc.DescribeWorkflowExecution(ctx, shop.WorkflowID(o.id), "")
		if err != nil {
			continue // the Temporal server may be restarting
		}
		if d.GetWorkflowExecutionInfo().GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Errorf("order %s ended while Redis was down: %s", o.id, d.GetWorkflowExecutionInfo().GetStatus())
			return
		}
		for _, a := range d.GetPendingActivities() {
			if a.GetActivityType().GetName() == "Refund" {
				o.attempts = a.GetAttempt()
			}
		}
	}
}
