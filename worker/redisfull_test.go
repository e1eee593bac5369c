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
// small maxmemory (noeviction) until it refuses writes. A choreography
// placement is then refused at once with config.ErrRedisFull and leaves
// nothing behind; orchestration placements, which Temporal holds, wait in
// their first step. Once memory frees (the operator raises maxmemory),
// every order in flight in either engine finishes, nothing is pending or
// dead-lettered, and verify finds both engines whole.
func TestRedisFull(t *testing.T) {
	b := startBoth(t)
	ctx := context.Background()
	chor, orch := b.chor, b.orch
	for _, e := range b.engines() { // both engines run before Redis fills up
		finish(t, e, placeOrder(t, e, "warm-"+string(e.Mode())))
	}
	fill(t, b.admin, 2<<20)
	placed, refusedID, refused := burst(t, chor, orch)
	if !errors.Is(refused, config.ErrRedisFull) || !strings.Contains(refused.Error(), "maxmemory") {
		t.Fatalf("placement on a full Redis: %v; want config.ErrRedisFull, saying what to do", refused)
	}
	if _, err := chor.Status(ctx, refusedID); !errors.Is(err, shop.ErrUnknownOrder) {
		t.Errorf("the refused order %s: %v; want nothing of it placed", refusedID, err)
	}
	// Full for good now (memory near the limit comes and goes as clients'
	// buffers do): every write is refused until the operator acts.
	if err := b.admin.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := chor.Place(ctx, burstOrder(refusedID)); !errors.Is(err, config.ErrRedisFull) {
		t.Fatalf("placement on a full Redis: %v; want config.ErrRedisFull", err)
	}
	for i := range 3 { // accepted by Temporal; their first step waits for Redis
		placed[orch] = append(placed[orch], placeOrder(t, orch, fmt.Sprintf("full-o-late-%d", i)))
	}
	t.Logf("Redis full after %d choreography and %d orchestration orders: %v", len(placed[chor]), len(placed[orch]), refused)
	waitRetried(t, b.tc, placed[orch][len(placed[orch])-1])

	if err := b.admin.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	for _, e := range b.engines() {
		for _, id := range placed[e] {
			finish(t, e, id)
		}
		src := verify.Source(chor)
		if e == orch {
			src = orch.WithRedis(b.rdb)
		}
		rep, err := verify.Check(ctx, b.rdb, src, b.catalog, verify.Options{})
		if err != nil || !rep.OK() {
			t.Errorf("verify %s after Redis was full: %+v, %v", e.Mode(), rep.Violations, err)
		}
	}
}

// burst places choreography orders, and an orchestration order every 20,
// until a placement is refused; it returns the orders placed, and the
// refused one with its error.
func burst(t *testing.T, chor *choreography.Engine, orch *workflows.Engine) (placed map[shop.Engine][]string, refusedID string, refused error) {
	t.Helper()
	placed = map[shop.Engine][]string{}
	for i := 0; i <= 100000; i++ {
		id := fmt.Sprintf("full-c-%d", i)
		if err := chor.Place(context.Background(), burstOrder(id)); err != nil {
			return placed, id, err
		}
		placed[chor] = append(placed[chor], id)
		if i%20 == 0 {
			placed[orch] = append(placed[orch], placeOrder(t, orch, fmt.Sprintf("full-o-%d", i)))
		}
	}
	t.Fatal("Redis never filled up")
	return nil, "", nil
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
	orch    *workflows.Engine
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
	b.chor, b.orch = choreography.NewEngine(b.node, b.catalog), workflows.NewEngine(b.tc, b.catalog)
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

// waitRetried waits until the first step of an orchestration order has
// failed for lack of memory and waits for its next attempt.
func waitRetried(t *testing.T, tc client.Client, id string) {
	t.Helper()
	err := poll.For(context.Background(), 30*time.Second, poll.Every(100*time.Millisecond), func(ctx context.Context) (bool, error) {
		d, err := tc.DescribeWorkflowExecution(ctx, shop.WorkflowID(id), "")
		for _, a := range d.GetPendingActivities() {
			if a.GetActivityType().GetName() == "Reserve" && strings.Contains(a.GetLastFailure().GetMessage(), "redis is full") {
				return true, nil
			}
		}
		return false, err
	})
	if err != nil {
		t.Fatalf("the reservation of order %s never failed for a full Redis: %v", id, err)
	}
}

func burstOrder(id string) shop.Order {
	return shop.Order{ID: id, Customer: "burst", Items: []shop.Item{{SKU: "pen", Quantity: 1}}}
}

func placeOrder(t *testing.T, e shop.Engine, id string) string {
	t.Helper()
	if err := e.Place(context.Background(), burstOrder(id)); err != nil {
		t.Fatalf("place %s on %s: %v", id, e.Mode(), err)
	}
	return id
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
