package admin_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/internal/platform/keyspace"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// choreographyEngines opens the choreography engine over a fresh
// redis-server, with its four services running in process until the test ends.
func choreographyEngines(t *testing.T) *admin.EngineSet {
	t.Helper()
	srv := testenv.StartRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := &config.Config{RedisURL: srv.URL(), Partitions: keyspace.DefaultPartitions, ConnectTimeout: 5 * time.Second}
	eng, err := admin.Open(ctx, cfg, []shop.Mode{shop.ModeChoreography}, admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	node := choreography.NewNode(eng.Redis, eng.Catalog, nil, choreography.WithPartitions(cfg.Partitions))
	for _, svc := range choreography.Services {
		wg.Go(func() {
			cfg := choreography.ConsumerConfig{Name: svc + "-1", RetryBase: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond}
			if err := node.RunService(sctx, svc, cfg); err != nil && sctx.Err() == nil {
				t.Errorf("service %s: %v", svc, err)
			}
		})
	}
	t.Cleanup(func() {
		stop()
		wg.Wait()
		eng.Close()
	})
	return eng
}

// TestWaitRepairAndErrors: an order whose refund is declined ends FAILED
// (watched while it runs); RepairAll compensates it; a second repair is an
// error that Errors names the engine of.
func TestWaitRepairAndErrors(t *testing.T) {
	eng := choreographyEngines(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	faults, err := shop.ParseFaultPlan([]string{"shipping", "refund:decline"})
	if err != nil {
		t.Fatal(err)
	}
	o := shop.Order{ID: "o-repair-1", Customer: "ada", Items: []shop.Item{{SKU: shop.DefaultSKU, Quantity: 1}}, Faults: faults}
	placed, err := eng.PlaceAll(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var seen []admin.Snapshot
	eng.WaitAllWatching(ctx, o.ID, placed, 10*time.Millisecond, func(s admin.Snapshot) { seen = append(seen, s) })
	if p := placed[0]; p.Err != nil || p.Outcome.Status != shop.StatusFailed || p.Elapsed <= 0 {
		t.Fatalf("placement: %+v, want FAILED", p)
	}
	if len(seen) == 0 || seen[0].OrderID != o.ID {
		t.Errorf("watched %d snapshots (%+v), want at least one of %s", len(seen), seen, o.ID)
	}
	if err := admin.Errors(o.ID, time.Minute, placed); err != nil {
		t.Errorf("Errors of a FAILED outcome: %v, want none", err)
	}

	done := eng.RepairAll(ctx, o.ID)
	if len(done) != 1 || done[0].Mode != shop.ModeChoreography || done[0].Err != nil || done[0].Outcome.Status != shop.StatusCompensated {
		t.Fatalf("RepairAll = %+v, want choreography COMPENSATED", done)
	}
	if err := admin.Errors(o.ID, time.Minute, done); err != nil {
		t.Errorf("Errors of a repair: %v", err)
	}
	// A second repair finds the work done, and shows its outcome.
	again := eng.RepairAll(ctx, o.ID)
	if err := admin.Errors(o.ID, time.Minute, again); err != nil || len(again) != 1 ||
		again[0].Outcome.Status != shop.StatusCompensated || !strings.Contains(again[0].Note, "repaired already") {
		t.Errorf("second repair: %+v, Errors: %v; want the first repair's outcome and a note", again, err)
	}
}

func TestErrors(t *testing.T) {
	declined := errors.New("declined")
	ps := []admin.Placement{
		{Mode: shop.ModeOrchestration, Err: context.DeadlineExceeded, Why: []string{"no worker polls", "task queue idle"}},
		{Mode: shop.ModeChoreography, Err: declined},
		{Mode: shop.ModeChoreography},
	}
	err := admin.Errors("o-1", 2*time.Second, ps)
	want := "orchestration: order o-1 did not finish within 2s: no worker polls; task queue idle\nchoreography: declined"
	if err == nil || err.Error() != want || !errors.Is(err, declined) {
		t.Errorf("Errors = %v, want %q", err, want)
	}
	if err := admin.Errors("o-1", time.Second, ps[2:]); err != nil {
		t.Errorf("Errors of an outcome = %v, want nil", err)
	}
}
