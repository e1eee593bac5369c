package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// TestRedisFull: a burst of orders on both engines fills a Redis with a
// small maxmemory (noeviction) until it refuses writes. A placement is then
// refused at once with config.ErrRedisFull, on either engine, and leaves
// nothing behind: no order record, no workflow whose first step could only
// wait. An orchestration order caught between two steps waits in its
// step. Once memory frees (the operator raises maxmemory), every order in
// flight in either engine finishes, nothing is pending or dead-lettered,
// and verify finds both engines whole.
func TestRedisFull(t *testing.T) {
	b := startBoth(t)
	ctx := context.Background()
	chor, orch := b.chor, b.orch
	for _, e := range b.engines() { // both engines run before Redis fills up
		finish(t, e, placeOrder(t, e, burstOrder("warm-"+string(e.Mode()))))
	}
	fill(t, b.admin, 2<<20)
	placed, refused := burst(t, chor, orch)
	if !errors.Is(refused, config.ErrRedisFull) || !strings.Contains(refused.Error(), "maxmemory") {
		t.Fatalf("placement on a full Redis: %v; want config.ErrRedisFull, saying what to do", refused)
	}
	// Room for one more order, caught between two steps when Redis fills
	// up again, for good now (memory near the limit comes and goes as
	// clients' buffers do): every write is refused until the operator acts.
	if err := b.admin.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	between := betweenSteps(t, b)
	if err := b.admin.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	for _, e := range b.engines() {
		refusedAtOnce(t, b, e, "full-late-"+string(e.Mode()))
	}
	placed[orch] = append(placed[orch], between)
	t.Logf("Redis full after %d choreography and %d orchestration orders: %v", len(placed[chor]), len(placed[orch]), refused)
	waitRetried(t, b.tc, between, "Charge")

	if err := b.admin.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	for _, e := range b.engines() {
		for _, id := range placed[e] {
			finish(t, e, id)
		}
		// A notification refused while Redis was full is retried by its
		// service's redelivery, after the order itself ended: verify
		// may wait for it.
		var rep verify.Report
		var err error
		_ = poll.For(ctx, 30*time.Second, poll.Every(250*time.Millisecond), func(ctx context.Context) (bool, error) {
			rep, err = verify.Check(ctx, b.rdb, e.(verify.Source), b.catalog, verify.Options{})
			return err == nil && rep.OK(), nil
		})
		if err != nil || !rep.OK() {
			t.Errorf("verify %s after Redis was full: %+v, %v", e.Mode(), rep.Violations, err)
		}
	}
}

// refusedAtOnce places order id on e, on a full Redis: the placement must
// fail with config.ErrRedisFull, saying what to do, and leave nothing of
// the order on e (no record, no workflow).
func refusedAtOnce(t *testing.T, b *both, e shop.Engine, id string) {
	t.Helper()
	ctx := context.Background()
	err := e.Place(ctx, burstOrder(id))
	if !errors.Is(err, config.ErrRedisFull) || !strings.Contains(err.Error(), "raise its maxmemory") {
		t.Fatalf("%s placement on a full Redis: %v; want config.ErrRedisFull, saying what to do", e.Mode(), err)
	}
	if _, err := e.Status(ctx, id); !errors.Is(err, shop.ErrUnknownOrder) {
		t.Errorf("the refused %s order %s: %v; want nothing of it placed", e.Mode(), id, err)
	}
	if e.Mode() == shop.ModeOrchestration {
		_, err := b.tc.DescribeWorkflowExecution(ctx, shop.WorkflowID(id), "")
		if _, ok := errors.AsType[*serviceerror.NotFound](err); !ok {
			t.Errorf("the refused order %s has a workflow (%v); want none started", id, err)
		}
	}
}

// betweenSteps places an orchestration order whose charge waits 5 s
// before it writes, and returns its ID once the order is between its
// reservation and its charge.
func betweenSteps(t *testing.T, b *both) string {
	t.Helper()
	o := burstOrder("full-o-between")
	o.Faults = shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultDelay, Delay: 5 * time.Second}}
	placeOrder(t, b.orch, o)
	err := poll.For(context.Background(), 30*time.Second, poll.Every(50*time.Millisecond), func(ctx context.Context) (bool, error) {
		d, err := b.tc.DescribeWorkflowExecution(ctx, shop.WorkflowID(o.ID), "")
		for _, a := range d.GetPendingActivities() {
			if a.GetActivityType().GetName() == "Charge" {
				return true, nil
			}
		}
		return false, err
	})
	if err != nil {
		t.Fatalf("order %s never reached its charge: %v", o.ID, err)
	}
	return o.ID
}

// burst places choreography orders, and an orchestration order every 20,
// until a placement is refused; it returns the orders placed and the
// refusal.
func burst(t *testing.T, chor, orch shop.Engine) (placed map[shop.Engine][]string, refused error) {
	t.Helper()
	placed = map[shop.Engine][]string{}
	for i := 0; i <= 100000; i++ {
		e := chor
		if i%20 == 0 {
			e = orch
		}
		id := fmt.Sprintf("full-%s-%d", e.Mode(), i)
		if err := e.Place(context.Background(), burstOrder(id)); err != nil {
			return placed, err
		}
		placed[e] = append(placed[e], id)
	}
	t.Fatal("Redis never filled up")
	return nil, nil
}

// both is a worker running every service of both engines against its own
// redis-server and Temporal dev server, and the engines as the starter
// makes them (Redis through config.Redis).
type both struct {
	admin   *redis.Client // the default user, for what the test does as an operator
	rdb     redis.UniversalClient
	tc      client.Client
	catalog shop.Catalog
	node    *choreography.Node
	chor    *choreography.Engine
	orch    *workflows.Source // placements refused at once on a full Redis
}

func (b *both) engines() []shop.Engine { return []shop.Engine{b.chor, b.orch} }

// startBoth starts it, with extra worker flags; the worker is stopped, and
// must stop cleanly, when the test ends.
func startBoth(t *testing.T, extra ...string) *both {
	t.Helper()
	rsrv, tsrv := testenv.StartRedis(t), testenv.StartTemporal(t)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"--redis-url", rsrv.URL(), "--temporal-address", tsrv.Address, "--log-level", "error"}, extra...))
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("worker stopped with %v", err)
		}
	})
	cfg := config.FromEnv()
	cfg.RedisURL, cfg.RedisClusterURL = rsrv.URL(), ""
	b := &both{admin: rsrv.Client(), catalog: shop.DefaultCatalog()}
	var err error
	if b.rdb, err = cfg.Redis(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.rdb.Close() })
	if b.tc, err = client.Dial(client.Options{HostPort: tsrv.Address, Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.tc.Close)
	b.node = choreography.NewNode(b.rdb, b.catalog, nil)
	if err := b.node.Bus.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	b.chor, b.orch = choreography.NewEngine(b.node, b.catalog), workflows.NewEngine(b.tc, b.catalog).WithRedis(b.rdb)
	return b
}

// fill sets Redis's maxmemory to what it uses now plus headroom.
func fill(t *testing.T, admin *redis.Client, headroom int) {
	t.Helper()
	info, err := admin.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	used := 0
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			used, _ = strconv.Atoi(v)
		}
	}
	if used == 0 {
		t.Fatalf("no used_memory in INFO memory:\n%s", info)
	}
	if err := admin.ConfigSet(context.Background(), "maxmemory", strconv.Itoa(used+headroom)).Err(); err != nil {
		t.Fatal(err)
	}
}

// waitRetried waits until the step of an orchestration order that runs
// activity has failed for lack of memory and waits for its next attempt.
func waitRetried(t *testing.T, tc client.Client, id, activity string) {
	t.Helper()
	err := poll.For(context.Background(), 30*time.Second, poll.Every(100*time.Millisecond), func(ctx context.Context) (bool, error) {
		d, err := tc.DescribeWorkflowExecution(ctx, shop.WorkflowID(id), "")
		for _, a := range d.GetPendingActivities() {
			if a.GetActivityType().GetName() == activity && strings.Contains(a.GetLastFailure().GetMessage(), "redis is full") {
				return true, nil
			}
		}
		return false, err
	})
	if err != nil {
		t.Fatalf("the %s of order %s never failed for a full Redis: %v", activity, id, err)
	}
}

func burstOrder(id string) shop.Order {
	return shop.Order{ID: id, Customer: "burst", Items: []shop.Item{{SKU: "pen", Quantity: 1}}}
}

func placeOrder(t *testing.T, e shop.Engine, o shop.Order) string {
	t.Helper()
	if err := e.Place(context.Background(), o); err != nil {
		t.Fatalf("place %s on %s: %v", o.ID, e.Mode(), err)
	}
	return o.ID
}

// finish waits until order id of e is COMPLETED or COMPENSATED.
func finish(t *testing.T, e shop.Engine, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := e.Wait(ctx, id)
	if err != nil || (out.Status != shop.StatusCompleted && out.Status != shop.StatusCompensated) {
		t.Fatalf("%s order %s: %+v, %v; want it finished", e.Mode(), id, out, err)
	}
}
