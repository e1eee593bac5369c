//go:build rollout

package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// A change of the saga, rolled out with orders in flight: the workers of
// the last commit before it are replaced one by one by this tree's (see
// docs/changing.md).
type change struct {
	name string
	// before is the last commit without the change, in either engine.
	before string
	// oldServices are the choreography services the worker of before runs.
	oldServices string
	// took reports whether an order that ended with out took the
	// change's path, and whether its outcome can tell (an order refused
	// before the changed step cannot).
	took func(ctx context.Context, rdb redis.UniversalClient, prefix string, out shop.Outcome) (bool, bool)
	// switchOn switches the choreography's placements to the change once
	// every service runs the new build (nil: nothing to switch).
	switchOn func(ctx context.Context, e *choreography.Engine) error
}

// changes are the two changes of the saga: adding a subscriber and
// inserting a step.
var changes = []change{
	{name: "notify", before: "fa12805~1", oldServices: "order,inventory,payment,shipping", took: notified},
	{name: "fraud", before: "2f640e1~1", oldServices: "order,inventory,payment,shipping,notify", took: checkedForFraud,
		switchOn: switchFraudCheckOn},
}

// notified: the customer was told how the order ended.
func notified(ctx context.Context, rdb redis.UniversalClient, prefix string, out shop.Outcome) (bool, bool) {
	st, err := activities.NotifyStates(ctx, rdb, prefix, []string{out.OrderID})
	return err == nil && st[0].Status == "ok", err == nil
}

// checkedForFraud: the order went through the fraud check; an order that
// ended before the step after the reservation cannot tell.
func checkedForFraud(_ context.Context, _ redis.UniversalClient, _ string, out shop.Outcome) (bool, bool) {
	if slices.Contains(out.Steps, shop.StepFraud) || out.FailedStep == shop.StepFraud {
		return true, true
	}
	return false, slices.Contains(out.Steps, shop.StepPayment) || out.FailedStep == shop.StepPayment
}

// changeWorkload is the rollout's workload with every seventh order a
// large one ($2,016, no fault): it completes on the old path and the
// fraud check refuses it on the new one.
func changeWorkload(seed uint64, n int, prefix string) []shop.Order {
	orders := parkedWorkload(workload(seed, n, prefix))
	for i := 3; i < n; i += 7 {
		orders[i].Items, orders[i].Faults = []shop.Item{{SKU: "book", Quantity: 48}}, nil
	}
	return orders
}

// rollWaves places orders in three waves, up to 24 in flight: once each
// of the first two is placed, replace(i) replaces the i-th old worker
// while they are in flight; then switchOn runs, if any, and the last
// wave is placed with the earlier ones still finishing.
func rollWaves(ctx context.Context, t *testing.T, r *runner, orders []shop.Order, replace func(i int), switchOn func()) {
	n := len(orders)
	var waves sync.WaitGroup
	for i := range 2 {
		wave := orders[i*n/3 : (i+1)*n/3]
		waves.Go(func() { r.run(ctx, t, wave, 24) })
		at(ctx, r, int64((i+1)*n/3), func() { replace(i) })
	}
	if switchOn != nil {
		switchOn()
	}
	r.run(ctx, t, orders[2*n/3:], 24)
	waves.Wait()
}

// checkPaths checks that every order oldPath names took the old path and
// every order of the last wave the new one; it returns how many took
// each. A subscriber added to the choreography has no old path: it reads
// the stream from its start, so it also tells the customers of orders
// that ended before it ran.
func checkPaths(ctx context.Context, t *testing.T, r *runner, c change, rdb redis.UniversalClient, prefix string,
	orders []shop.Order, oldPath func(i int) bool) (old, neu int) {
	expectOld := false
	for i, o := range orders {
		expectOld = expectOld || oldPath(i)
		v, ok := r.outcomes.Load(o.ID)
		if !ok {
			continue
		}
		took, tells := c.took(ctx, rdb, prefix, v.(shop.Outcome))
		switch {
		case !tells:
		case i >= 2*len(orders)/3 && !took:
			t.Errorf("%s: order %s, placed after the rollout, did not take the new path: %+v", c.name, o.ID, v)
		case oldPath(i) && took:
			t.Errorf("%s: order %s, started before the change, took the new path: %+v", c.name, o.ID, v)
		case took:
			neu++
		default:
			old++
		}
	}
	if neu == 0 || (expectOld && old == 0) {
		t.Errorf("%s: %d orders took the old path and %d the new one: want both", c.name, old, neu)
	}
	return old, neu
}

// TestChangeRollout rolls each change out on each engine from the worker
// of the last commit before it (built once per change).
func TestChangeRollout(t *testing.T) {
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			prevBin := buildBefore(t, c)
			t.Run("orchestration", func(t *testing.T) { rollOrchestration(t, c, prevBin) })
			t.Run("choreography", func(t *testing.T) { rollChoreography(t, c, prevBin) })
		})
	}
}

// rollOrchestration rolls change c out on the orchestration: OrderSaga's
// workers of the commit before it replaced by
// this tree's, as TestOrchestrationRollingRestart does. A workflow whose
// first task an old build ran keeps the old path (its version marker)
// whichever build runs it later; every order placed after the rollout
// takes the new one.
func rollOrchestration(t *testing.T, c change, prevBin string) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st := startOrchestrationStack(ctx, t, testenv.BackendDev)
	worker := func(name, bin string, args ...string) *proc { return st.worker(t, name, bin, args...) }
	old := []*proc{worker("old-1", prevBin), worker("old-2", prevBin)}
	engine := workflows.NewEngine(st.tc, st.catalog)
	r := &runner{engine: engine}
	orders := changeWorkload(29, 90, "change-"+c.name)
	began := time.Now()
	rollWaves(ctx, t, r, orders, func(i int) {
		worker(fmt.Sprintf("new-%d", i+1), workerBin, "--build-id", "change-new")
		waitCurrent(ctx, t, st.tc, "change-new")
		inFlight := r.inFlight()
		old[i].stop()
		note(t, "%s: new worker %d current and old worker %d stopped after %s, %d orders in flight",
			c.name, i+1, i+1, time.Since(began).Round(time.Millisecond), inFlight)
	}, nil)
	if t.Failed() {
		return
	}
	checkRollout(ctx, t, st.tc, r, orders)
	startedOld := func(i int) bool { return firstBuild(ctx, t, st.tc, orders[i].ID) != "change-new" }
	o, n := checkPaths(ctx, t, r, c, st.rdb, activities.OrchestrationPrefix, orders, startedOld)
	checkVerify(ctx, t, st.rdb, engine.WithRedis(st.rdb), st.catalog, len(orders))
	note(t, "%s on the orchestration: %d orders in %s, outcomes %v; %d took the old path, %d the new",
		c.name, len(orders), time.Since(began).Round(time.Second), r.counts(), o, n)
}

// rollChoreography rolls change c out on the choreography: two worker processes of the commit before it, each
// running every service it had, replaced one by one by this tree's (every
// service, the new ones included), each old one stopped (SIGTERM,
// drained) once its successor runs. Then the change is switched on where
// it needs a switch (the fraud check: placements take the new plan only
// once no old service runs). Orders placed before the switch finish on the
// old path, those placed after take the new one; nothing is lost, done
// twice or dead-lettered.
func rollChoreography(t *testing.T, c change, prevBin string) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	srv := testenv.StartRedis(t)
	rdb := srv.Client()
	worker := func(name, bin, services string) *proc {
		p := newProc(t, name, bin, env("REDIS_URL", srv.URL()), "--services", services, "--consumer-name", name,
			"--claim-idle", "2s", "--log-level", "info")
		p.start()
		waitLogged(ctx, t, p, "worker running")
		return p
	}
	oldServices := "order,inventory,payment,shipping"
	old := []*proc{worker("old-1", prevBin, oldServices), worker("old-2", prevBin, oldServices)}
	catalog := shop.DefaultCatalog()
	engine := choreography.NewEngine(choreography.NewNode(rdb, catalog, slog.New(slog.NewTextHandler(io.Discard, nil))), catalog)
	r := &runner{engine: engine}
	orders := changeWorkload(31, 90, "change-"+c.name)
	began := time.Now()
	var switched int
	rollWaves(ctx, t, r, orders, func(i int) {
		worker(fmt.Sprintf("new-%d", i+1), workerBin, strings.Join(choreography.Services, ","))
		inFlight := r.inFlight()
		old[i].stop()
		note(t, "%s: new worker %d running and old worker %d stopped after %s, %d orders in flight",
			c.name, i+1, i+1, time.Since(began).Round(time.Millisecond), inFlight)
	}, func() {
		switched = int(r.placed.Load())
		if c.switchOn != nil {
			at := time.Now()
			if err := c.switchOn(ctx, engine); err != nil {
				t.Fatalf("switch %s on: %v", c.name, err)
			}
			note(t, "%s: switched on after %d placements, in %s (accepted once no old consumer was seen live; the plan cache waited out)",
				c.name, switched, time.Since(at).Round(time.Millisecond))
		}
	})
	if t.Failed() {
		return
	}
	placedBefore := func(i int) bool { return i < switched && c.switchOn != nil }
	o, n := checkPaths(ctx, t, r, c, rdb, activities.ChoreographyPrefix, orders, placedBefore)
	if got := r.counts(); got[shop.StatusFailed] != 0 || got[shop.StatusCompleted] == 0 || got[shop.StatusCompensated] == 0 {
		t.Errorf("outcomes %v: want completed and compensated orders and none FAILED", got)
	}
	checkVerify(ctx, t, rdb, engine, catalog, len(orders))
	for _, p := range old {
		if out := p.output(); strings.Contains(out, "panic") {
			t.Errorf("an old worker failed:\n%s", tail(out, 4096))
		}
	}
	note(t, "%s on the choreography: %d orders in %s, outcomes %v; %d took the old path, %d the new",
		c.name, len(orders), time.Since(began).Round(time.Second), r.counts(), o, n)
}

// buildBefore builds the worker of the last commit before the change.
func buildBefore(t *testing.T, c change) string {
	began := time.Now()
	bin := testenv.BuildAt(t, c.before, "./worker") + "/worker"
	note(t, "the worker of %s (before %s) built in %s", c.before, c.name, time.Since(began).Round(time.Second))
	return bin
}

// waitLogged waits until p has logged s.
func waitLogged(ctx context.Context, t *testing.T, p *proc, s string) {
	t.Helper()
	err := poll.For(ctx, time.Minute, poll.Every(50*time.Millisecond), func(context.Context) (bool, error) {
		return strings.Contains(p.output(), s), nil
	})
	if err != nil {
		t.Fatalf("%s never logged %q: %v\n%s", p.name, s, err, tail(p.output(), 4096))
	}
}

// checkVerify checks every invariant once the engine has settled.
func checkVerify(ctx context.Context, t *testing.T, rdb redis.UniversalClient, engine verify.Source, catalog shop.Catalog, n int) {
	var rep verify.Report
	var err error
	_ = poll.For(ctx, 60*time.Second, poll.Every(500*time.Millisecond), func(context.Context) (bool, error) {
		rep, err = verify.Check(ctx, rdb, engine, catalog, verify.Options{})
		return err == nil && rep.OK(), nil
	})
	if err != nil || !rep.OK() || rep.Orders != n {
		t.Errorf("verify: %d orders (want %d), %v, violations %v", rep.Orders, n, err, rep.Violations)
	}
}

// firstBuild is the build ID of the worker that completed the order's
// first workflow task: the one that recorded its version.
func firstBuild(ctx context.Context, t *testing.T, tc client.Client, orderID string) string {
	it := tc.GetWorkflowHistory(ctx, shop.WorkflowID(orderID), "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", orderID, err)
		}
		if a := ev.GetWorkflowTaskCompletedEventAttributes(); a != nil {
			if b := a.GetDeploymentVersion().GetBuildId(); b != "" {
				return b
			}
			_, b, _ := strings.Cut(a.GetWorkerDeploymentVersion(), ".")
			return b
		}
	}
	return ""
}

// switchFraudCheckOn switches the choreography's placements to the plan
// with the fraud check, as `starter fraud-check on` does: refused while a
// consumer of the old build is still seen live (its presence record
// outlives it by a few seconds), so it is tried again until accepted; then
// it waits out the engines' plan cache, so every later placement takes it.
func switchFraudCheckOn(ctx context.Context, e *choreography.Engine) error {
	var last error
	err := poll.For(ctx, time.Minute, poll.Every(250*time.Millisecond), func(ctx context.Context) (bool, error) {
		last = e.SetFraudCheck(ctx, true)
		if last != nil && !errors.Is(last, choreography.ErrConsumersBehind) {
			return false, last
		}
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("%w (last: %v)", err, last)
	}
	time.Sleep(1500 * time.Millisecond)
	return nil
}

// note logs a line of the rollout and, when ROLLOUT_REPORT names a file,
// appends it there as a list item under the test's name: the report
// docs/changing.md quotes.
func note(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	path := os.Getenv("ROLLOUT_REPORT")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("rollout report: %v", err)
		return
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "- `%s` %s: %s\n", t.Name(), time.Now().UTC().Format("15:04:05"), line); err != nil {
		t.Errorf("rollout report: %v", err)
	}
}
