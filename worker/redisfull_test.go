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
	"github.com/ordersaga/ordersaga/internal/config"
	"github.com/ordersaga/ordersaga/internal/poll"
	"github.com/ordersaga/ordersaga/internal/testenv"
	"github.com/ordersaga/ordersaga/internal/verify"
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
	rsrv := testenv.StartRedis(t)
	tsrv := testenv.StartTemporal(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--redis-url", rsrv.URL(), "--temporal-address", tsrv.Address, "--log-level", "error"})
	}()
	cfg := config.FromEnv()
	cfg.RedisURL, cfg.RedisClusterURL = rsrv.URL(), ""
	rdb, err := cfg.Redis(ctx) // as the starter connects
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	tc, err := client.Dial(client.Options{HostPort: tsrv.Address, Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	catalog := shop.DefaultCatalog()
	node := choreography.NewNode(rdb, catalog, nil)
	if err := node.Bus.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	chor, orch := choreography.NewEngine(node, catalog), workflows.NewEngine(tc, catalog)
	engines := []shop.Engine{chor, orch}
	for _, e := range engines { // both engines run before Redis fills up
		finish(t, e, placeOrder(t, e, "warm-"+string(e.Mode())))
	}

	admin := rsrv.Client()
	fill(t, admin, 2<<20)
	placed := map[shop.Engine][]string{}
	var refused error
	refusedID := ""
	for i := 0; refused == nil; i++ {
		if i > 100000 {
			t.Fatal("Redis never filled up")
		}
		id := fmt.Sprintf("full-c-%d", i)
		if refused = chor.Place(ctx, burstOrder(id)); refused != nil {
			refusedID = id
			break
		}
		placed[chor] = append(placed[chor], id)
		if i%20 == 0 {
			placed[orch] = append(placed[orch], placeOrder(t, orch, fmt.Sprintf("full-o-%d", i)))
		}
	}
	if !errors.Is(refused, config.ErrRedisFull) || !strings.Contains(refused.Error(), "maxmemory") {
		t.Fatalf("placement on a full Redis: %v; want config.ErrRedisFull, saying what to do", refused)
	}
	if _, err := chor.Status(ctx, refusedID); !errors.Is(err, shop.ErrUnknownOrder) {
		t.Errorf("the refused order %s: %v; want nothing of it placed", refusedID, err)
	}
	// Full for good now (memory near the limit comes and goes as clients'
	// buffers do): every write is refused until the operator acts.
	if err := admin.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := chor.Place(ctx, burstOrder(refusedID)); !errors.Is(err, config.ErrRedisFull) {
		t.Fatalf("placement on a full Redis: %v; want config.ErrRedisFull", err)
	}
	for i := range 3 { // accepted by Temporal; their first step waits for Redis
		placed[orch] = append(placed[orch], placeOrder(t, orch, fmt.Sprintf("full-o-late-%d", i)))
	}
	t.Logf("Redis full after %d choreography and %d orchestration orders: %v", len(placed[chor]), len(placed[orch]), refused)
	waitRetried(t, tc, placed[orch][len(placed[orch])-1])

	if err := admin.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	for _, e := range engines {
		for _, id := range placed[e] {
			finish(t, e, id)
		}
		src := verify.Source(chor)
		if e == orch {
			src = orch.WithRedis(rdb)
		}
		rep, err := verify.Check(ctx, rdb, src, catalog, verify.Options{})
		if err != nil || !rep.OK() {
			t.Errorf("verify %s after Redis was full: %+v, %v", e.Mode(), rep.Violations, err)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("worker stopped with %v", err)
	}
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
