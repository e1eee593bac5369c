package choreography_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/scenarios"
	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// The engine runs sagas and is what the invariant checks read.
var (
	_ shop.Engine   = (*choreography.Engine)(nil)
	_ verify.Source = (*choreography.Engine)(nil)
)

// fastConfig keeps retries and reclaims short so tests stay quick.
var fastConfig = choreography.ConsumerConfig{
	RetryBase: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
	ClaimIdle: 500 * time.Millisecond, Block: 100 * time.Millisecond,
}

type harness struct {
	t      *testing.T
	rdb    redis.UniversalClient
	node   *choreography.Node
	engine *choreography.Engine
	mu     sync.Mutex
	stops  map[string]func()
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h, _ := newHarnessOn(t)
	return h
}

// newHarnessOn is newHarness on a redis-server started with extra arguments.
func newHarnessOn(t *testing.T, args ...string) (*harness, *testenv.RedisServer) {
	t.Helper()
	srv := testenv.StartRedis(t, args...)
	return newHarnessWith(t, srv.Client()), srv
}

// onBoth runs a test on one Redis and on a Redis Cluster of three masters.
func onBoth(t *testing.T, test func(t *testing.T, h *harness)) {
	t.Run("redis", func(t *testing.T) { test(t, newHarness(t)) })
	t.Run("cluster", func(t *testing.T) { test(t, newHarnessWith(t, clusterClient(t))) })
}

// newHarnessWith is newHarness over a given client.
func newHarnessWith(t *testing.T, rdb redis.UniversalClient) *harness {
	t.Helper()
	ctx := context.Background()
	cat := shop.DefaultCatalog()
	if err := activities.Seed(ctx, rdb, activities.ChoreographyPrefix, cat); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	node := choreography.NewNode(rdb, cat, log)
	if err := node.Bus.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, rdb: rdb, node: node, engine: choreography.NewEngine(node, cat), stops: map[string]func(){}}
	t.Cleanup(h.stopAll)
	return h
}

// newClient returns another client to the harness's Redis, closed when
// the test ends.
func (h *harness) newClient() redis.UniversalClient {
	var c redis.UniversalClient
	switch r := h.rdb.(type) {
	case *redis.ClusterClient:
		c = redis.NewClusterClient(r.Options())
	case *redis.Client:
		c = redis.NewClient(r.Options())
	}
	h.t.Cleanup(func() { _ = c.Close() })
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// start runs a service with the given consumer name until stopped.
func (h *harness) start(service, name string) {
	h.t.Helper()
	h.startWith(service, name, fastConfig)
}

// startWith runs a service with the given consumer name and config until stopped.
func (h *harness) startWith(service, name string, cfg choreography.ConsumerConfig) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg.Name = name
	go func() { done <- h.node.RunService(ctx, service, cfg) }()
	h.mu.Lock()
	h.stops[name] = func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("service %s: %v", name, err)
		}
	}
	h.mu.Unlock()
}

// consume runs a consumer with custom handlers; the returned func stops it.
func (h *harness) consume(service string, hs map[choreography.EventType]choreography.Handler, cfg choreography.ConsumerConfig) func() {
	h.t.Helper()
	c, err := h.node.Bus.NewConsumer(service, hs, cfg, h.node.Log)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("consumer of %s: %v", service, err)
		}
	}
}

func (h *harness) startAll() {
	for _, s := range choreography.Services {
		h.start(s, s+"-1")
	}
}

func (h *harness) stop(name string) {
	h.mu.Lock()
	stop := h.stops[name]
	delete(h.stops, name)
	h.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (h *harness) stopAll() {
	h.mu.Lock()
	names := make([]string, 0, len(h.stops))
	for n := range h.stops {
		names = append(names, n)
	}
	h.mu.Unlock()
	for _, n := range names {
		h.stop(n)
	}
}

func (h *harness) run(o shop.Order) shop.Outcome {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.engine.Place(ctx, o); err != nil {
		h.t.Fatalf("place %s: %v", o.ID, err)
	}
	out, err := h.engine.Wait(ctx, o.ID)
	if err != nil {
		h.t.Fatalf("wait %s: %v", o.ID, err)
	}
	return out
}

func order(id string, faults shop.FaultPlan) shop.Order {
	return shop.Order{ID: id, Customer: "ada", Items: []shop.Item{{SKU: "book", Quantity: 2}, {SKU: "pen", Quantity: 3}}, Faults: faults}
}

func TestHappyPath(t *testing.T) { onBoth(t, testHappyPath) }

func testHappyPath(t *testing.T, h *harness) {
	h.startAll()
	out := h.run(order("happy", nil))
	if out.Status != shop.StatusCompleted {
		t.Fatalf("status %s (%s), want COMPLETED", out.Status, out.Reason)
	}
	want := []shop.Step{shop.StepInventory, shop.StepFraud, shop.StepPayment, shop.StepShipping}
	if !slices.Equal(out.Steps, want) || len(out.Compensated) != 0 {
		t.Fatalf("steps %v compensated %v", out.Steps, out.Compensated)
	}
	hist, err := h.engine.History(context.Background(), "happy")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range hist {
		names = append(names, e.Name)
	}
	wantNames := []string{"OrderPlaced", "InventoryReserved", "FraudCleared", "PaymentCharged", "ShipmentScheduled", "OrderCompleted"}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("history %v, want %v", names, wantNames)
	}
	if hist[3].Detail != fmt.Sprint(shop.Order{Items: order("x", nil).Items}.Total(shop.DefaultCatalog())) {
		t.Fatalf("charge detail %q", hist[3].Detail)
	}
}

func TestScenarioTable(t *testing.T) { onBoth(t, testScenarioTable) }

func testScenarioTable(t *testing.T, h *harness) {
	h.startAll()
	scenarios.Run(t, h.engine, h.rdb, activities.ChoreographyPrefix)
	h.checkDrained()
}

// checkDrained asserts that every consumer group has nothing pending or unread.
func (h *harness) checkDrained() {
	h.t.Helper()
	backlog, err := h.node.Bus.Backlog(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	for _, b := range backlog {
		h.t.Errorf("not drained: %+v", b)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// verify checks the invariants of the choreography engine.
func (h *harness) verify() verify.Report {
	h.t.Helper()
	rep, err := verify.Check(context.Background(), h.rdb, h.engine, shop.DefaultCatalog(), verify.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	return rep
}
