package admin_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/internal/platform/keyspace"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// TestRepartition: Repartition refuses a P out of bounds and an order in
// flight, changing nothing; then it records the new P, which the engine
// and services started afresh use and a process of the old P refuses;
// back at the old P, a process of the old P starts again.
func TestRepartition(t *testing.T) {
	srv := testenv.StartRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := &config.Config{RedisURL: srv.URL(), Partitions: keyspace.DefaultPartitions, ConnectTimeout: 5 * time.Second}
	eng, err := admin.Open(ctx, cfg, []shop.Mode{shop.ModeChoreography}, admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	chor := shop.ModeChoreography
	o := shop.Order{ID: "o-repartition-1", Customer: "ada", Items: []shop.Item{{SKU: shop.DefaultSKU, Quantity: 1}}}
	if _, err := eng.PlaceAll(ctx, o); err != nil { // no service runs: it stays in flight
		t.Fatal(err)
	}
	if _, err := eng.Repartition(ctx, map[shop.Mode]int{chor: keyspace.MaxPartitions + 1}, true); err == nil {
		t.Error("P above the bound accepted")
	}
	var inFlight *admin.InFlightError
	if _, err := eng.Repartition(ctx, map[shop.Mode]int{chor: 3}, false); !errors.As(err, &inFlight) {
		t.Errorf("an order in flight: %v, want an InFlightError", err)
	}
	if got, err := eng.Partitions(ctx); err != nil || got[chor] != keyspace.DefaultPartitions {
		t.Fatalf("partitions after refusals: %v, %v; want %d", got, err, keyspace.DefaultPartitions)
	}

	if _, err := eng.Repartition(ctx, map[shop.Mode]int{chor: 3}, true); err != nil {
		t.Fatal(err)
	}
	if got, err := eng.Partitions(ctx); err != nil || got[chor] != 3 || eng.Choreography.Bus().Layout().Partitions != 3 {
		t.Fatalf("partitions: recorded %v (%v), engine's %d; want 3", got, err, eng.Choreography.Bus().Layout().Partitions)
	}
	if held, err := eng.Held(ctx); err != nil || held.Total() != 0 {
		t.Fatalf("held after the repartition: %v, %v", held, err)
	}
	if err := choreography.NewBus(eng.Redis, choreography.WithPartitions(keyspace.DefaultPartitions)).Setup(ctx); !errors.Is(err, activities.ErrPartitions) {
		t.Fatalf("a process of the old P: %v, want ErrPartitions", err)
	}
	runOrder(ctx, t, eng, "o-repartition-2")

	if _, err := eng.Repartition(ctx, map[shop.Mode]int{chor: keyspace.DefaultPartitions}, false); err != nil {
		t.Fatal(err)
	}
	if err := choreography.NewBus(eng.Redis, choreography.WithPartitions(keyspace.DefaultPartitions)).Setup(ctx); err != nil {
		t.Fatalf("a process of the old P, after it is back: %v", err)
	}
}

// runOrder places an order on eng's choreography, with its services
// running on a node of the recorded P, and wants it COMPLETED.
func runOrder(ctx context.Context, t *testing.T, eng *admin.EngineSet, id string) {
	t.Helper()
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	node := choreography.NewNode(eng.Redis, eng.Catalog, nil)
	for _, svc := range choreography.Services {
		wg.Go(func() { _ = node.RunService(sctx, svc, choreography.ConsumerConfig{Name: svc + "-1"}) })
	}
	placed, err := eng.PlaceAll(ctx, shop.Order{ID: id, Customer: "ada", Items: []shop.Item{{SKU: shop.DefaultSKU, Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	eng.WaitAll(ctx, id, placed)
	if p := placed[0]; p.Err != nil || p.Outcome.Status != shop.StatusCompleted {
		t.Fatalf("order at the new P: %+v, want COMPLETED", p)
	}
}
