//go:build rollout

package chaos_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/ordersaga/ordersaga/internal/app/experiment"
	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// TestOrchestrationRollingRestart rolls the orchestration workers from the
// previous commit's build (or ROLLOUT_FROM's, any git revision) to the
// code under test, one by one, with orders in flight and parked at every
// step, and more placed after each step: each new worker starts, becomes
// the deployment's current version, and only then is an old one stopped
// (SIGTERM, drained). Afterwards every order is terminal and verify holds,
// no workflow task failed anywhere (an old worker handed a task written by
// newer code would fail it), and no old worker logged a panic.
func TestOrchestrationRollingRestart(t *testing.T) {
	const n = 90
	from := cmp.Or(os.Getenv("ROLLOUT_FROM"), "HEAD~1")
	began := time.Now()
	prevBin := filepath.Join(testenv.BuildAt(t, from, "./worker"), "worker")
	t.Logf("the worker of %s built in %s", from, time.Since(began).Round(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st := startOrchestrationStack(ctx, t, testenv.BackendDev)
	rdb, tc := st.rdb, st.tc
	worker := func(name, bin string, args ...string) *proc { return st.worker(t, name, bin, args...) }
	old := []*proc{worker("old-1", prevBin), worker("old-2", prevBin)}

	engine := workflows.NewEngine(tc, st.catalog)
	r := &runner{engine: engine}
	orders := experiment.Parked(workload(23, n, "roll"))
	// Orders come in three waves: the first two each followed by the
	// replacement of one old worker while they are in flight, the last
	// placed once every worker runs the new build.
	const newBuild = "rollout-new"
	var waves sync.WaitGroup
	for i, o := range old {
		wave := orders[i*n/3 : (i+1)*n/3]
		waves.Go(func() { r.run(ctx, t, wave, 24) })
		at(ctx, r, int64((i+1)*n/3), func() {
			began := time.Now()
			worker(fmt.Sprintf("new-%d", i+1), workerBin, "--build-id", newBuild)
			waitCurrent(ctx, t, tc, newBuild)
			current, inFlight := time.Since(began), r.inFlight()
			o.stop()
			t.Logf("after %d placements: new worker %d current after %s, old worker %d stopped after %s with %d orders in flight",
				r.placed.Load(), i+1, current.Round(time.Millisecond), i+1, time.Since(began).Round(time.Millisecond), inFlight)
			if inFlight == 0 {
				t.Errorf("roll %d: no order was in flight when the old worker stopped", i+1)
			}
		})
	}
	r.run(ctx, t, orders[2*n/3:], 24)
	waves.Wait()
	if t.Failed() {
		return
	}
	checkRollout(ctx, t, tc, r, orders)
	for _, o := range old {
		if out := o.output(); strings.Contains(out, "panic") || strings.Contains(out, "too old") {
			t.Errorf("an old worker failed a task:\n%s", tail(out, 4096))
		}
	}
	var rep verify.Report
	var err error
	_ = poll.For(ctx, 60*time.Second, poll.Every(500*time.Millisecond), func(context.Context) (bool, error) {
		rep, err = verify.Check(ctx, rdb, engine.WithRedis(rdb), st.catalog, verify.Options{})
		return err == nil && rep.OK(), nil
	})
	if err != nil || !rep.OK() || rep.Orders != n {
		t.Errorf("verify: %d orders (want %d), %v, violations %v", rep.Orders, n, err, rep.Violations)
	}
	t.Logf("rolling restart: %d orders in %s, outcomes %v", n, time.Since(began).Round(time.Second), r.counts())
}

// inFlight is how many orders have been placed and not yet seen to end.
func (r *runner) inFlight() int64 {
	var ended int64
	r.outcomes.Range(func(_, _ any) bool { ended++; return true })
	return r.placed.Load() - ended
}

// waitCurrent waits until the deployment's current version is buildID.
func waitCurrent(ctx context.Context, t *testing.T, tc client.Client, buildID string) {
	h := tc.WorkerDeploymentClient().GetHandle(workflows.DefaultDeploymentName)
	err := poll.For(ctx, time.Minute, poll.Every(200*time.Millisecond), func(ctx context.Context) (bool, error) {
		d, err := h.Describe(ctx, client.WorkerDeploymentDescribeOptions{})
		cur := d.Info.RoutingConfig.CurrentVersion
		return err == nil && cur != nil && cur.BuildID == buildID, nil
	})
	if err != nil {
		t.Errorf("build %s never became the current version: %v", buildID, err)
	}
}

// checkRollout checks that every order ended as planned (none FAILED) and
// that no workflow task of any order failed.
func checkRollout(ctx context.Context, t *testing.T, tc client.Client, r *runner, orders []shop.Order) {
	if got := r.counts(); got[shop.StatusFailed] != 0 || got[shop.StatusCompleted] == 0 || got[shop.StatusCompensated] == 0 {
		t.Errorf("outcomes %v: want completed and compensated orders and none FAILED", got)
	}
	for _, o := range orders {
		it := tc.GetWorkflowHistory(ctx, shop.WorkflowID(o.ID), "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatalf("history of %s: %v", o.ID, err)
			}
			if ev.GetEventType() == enums.EVENT_TYPE_WORKFLOW_TASK_FAILED {
				a := ev.GetWorkflowTaskFailedEventAttributes()
				t.Errorf("order %s: workflow task failed (%s): %s", o.ID, a.GetCause(), a.GetFailure().GetMessage())
			}
		}
	}
}

// worker starts an orchestration worker of bin on the stack.
func (st *orchestrationStack) worker(t *testing.T, name, bin string, args ...string) *proc {
	workerEnv := env("REDIS_URL", st.srv.URL(), "TEMPORAL_ADDRESS", st.tcmd.Address)
	p := newProc(t, name, bin, workerEnv, append([]string{"--services", "orchestration", "--log-level", "warn"}, args...)...)
	p.start()
	return p
}
