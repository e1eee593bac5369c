package chaos_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/testenv"
	"github.com/ordersaga/ordersaga/internal/verify"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// TestOrchestrationUnderChaos, on each Temporal backend: the Temporal
// server keeps its state in a file (dev server) or in PostgreSQL, Redis in
// its append-only file; mid-run the worker process is
// SIGKILLed and restarted, redis-server is killed and restarted, and the
// Temporal server itself is killed and restarted on its database. Orders are
// placed twice (rejected) and workflows with malformed input are started
// directly. Afterwards every order is terminal and verify holds.
func TestOrchestrationUnderChaos(t *testing.T) {
	for _, backend := range testenv.TemporalBackends {
		t.Run(backend, func(t *testing.T) { orchestrationUnderChaos(t, backend) })
	}
}

func orchestrationUnderChaos(t *testing.T, backend string) {
	const n = 200
	tcmd := testenv.NewTemporalCmd(t, backend)
	srv := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	rdb := srv.Client()
	catalog := shop.DefaultCatalog()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := activities.Seed(ctx, rdb, activities.OrchestrationPrefix, catalog); err != nil {
		t.Fatal(err)
	}

	temporal := newProc(t, "temporal", tcmd.Bin, tcmd.Env, tcmd.Args...)
	temporal.start()
	tc, err := tcmd.Ready(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	addr := tcmd.Address

	worker := newProc(t, "worker", workerBin, env("REDIS_URL", srv.URL(), "TEMPORAL_ADDRESS", addr),
		"--services", "orchestration", "--log-level", "warn")
	worker.start()

	engine := workflows.NewEngine(tc, catalog)
	r := &runner{engine: engine}
	orders := workload(11, n, "orch")

	var did []string
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
	deadline := time.Now().Add(60 * time.Second)
	for {
		rep, err = verify.Check(ctx, rdb, src, catalog, verify.Options{})
		if err == nil && (rep.OK() || time.Now().After(deadline)) {
			break
		}
		if err != nil && time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("orchestration chaos: %s", join(did...))
	t.Logf("  %d orders in %s, %d duplicate placements rejected, %d malformed workflows, %d client retries through outages",
		n, time.Since(start).Round(time.Millisecond), dupRejected.Load(), malformed.Load(), r.retries.Load())
	t.Logf("  outcomes %v; verify: %d orders %v, %d histories checked, %d violations",
		r.counts(), rep.Orders, rep.Statuses, rep.Histories, len(rep.Violations))
	if want := n + int(malformed.Load()); rep.Orders != want {
		t.Errorf("verify saw %d orders, want %d", rep.Orders, want)
	}
	for _, v := range rep.Violations {
		t.Errorf("violation: %s", v)
	}
	if dupAccepted.Load() != 0 || dupRejected.Load() == 0 {
		t.Errorf("duplicate placements: %d accepted, %d rejected", dupAccepted.Load(), dupRejected.Load())
	}
	if len(did) != 3 {
		t.Errorf("chaos did not all happen: %v", did)
	}
	if got := r.counts(); got[shop.StatusCompleted] == 0 || got[shop.StatusCompensated] == 0 || got[shop.StatusFailed] != 0 {
		t.Errorf("outcomes %v: want completed and compensated orders and none FAILED", got)
	}
}
