package chaos_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// TestPlacementsThroughAFailover: orders are placed without pause, eight
// at a time, each with the starter's time limit, while a master of a
// Redis Cluster with a replica per master is SIGKILLed and its replica
// takes over. Not one placement fails, and every order placed is there
// afterwards. (Without retries, the placements that reach the killed
// master's slots fail with connection errors and CLUSTERDOWN.)
func TestPlacementsThroughAFailover(t *testing.T) {
	c := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3, Replicas: 1, AppendOnly: true})
	ctx := context.Background()
	engine := clusterEngine(ctx, t, c)
	var (
		placed, failed atomic.Int64
		ids            sync.Map
		next           atomic.Int64
		wg             sync.WaitGroup
	)
	stop := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("fo-%d", next.Add(1))
				pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				err := engine.Place(pctx, shop.Order{ID: id, Customer: "failover", Items: []shop.Item{{SKU: "pen", Quantity: 1}}})
				cancel()
				if err != nil {
					failed.Add(1)
					t.Errorf("place %s: %v", id, err)
					continue
				}
				ids.Store(id, true)
				placed.Add(1)
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	before := placed.Load()
	failover(t, c)
	during := placed.Load() - before
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d orders placed, %d of them while the master was down or just after, %d failed", placed.Load(), during, failed.Load())
	if during == 0 {
		t.Error("no order was placed across the failover")
	}
	ids.Range(func(k, _ any) bool {
		if _, err := engine.Status(ctx, k.(string)); err != nil {
			t.Errorf("order %s after the failover: %v", k, err)
		}
		return true
	})
}

// TestServicesStartDuringAFailover: the four services are started while a
// master of the cluster is down and no replica has taken over yet. They
// wait for the cluster instead of exiting, and an order placed afterwards
// completes.
func TestServicesStartDuringAFailover(t *testing.T) {
	c := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3, Replicas: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	engine := clusterEngine(ctx, t, c)
	m := c.Masters(ctx)[0]
	c.Kill(m)
	services := startChaosServices(t, env("REDIS_CLUSTER_URL", c.URL()))
	if err := c.WaitFailover(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := engine.Place(ctx, shop.Order{ID: "fo-start", Customer: "failover", Items: []shop.Item{{SKU: "pen", Quantity: 1}}}); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	out, err := engine.Wait(wctx, "fo-start")
	if err != nil || out.Status != shop.StatusCompleted {
		t.Fatalf("order after the failover: %+v, %v", out, err)
	}
	for name, p := range services {
		p.mu.Lock()
		done := p.done
		p.mu.Unlock()
		select {
		case <-done:
			t.Errorf("service %s exited", name)
		default:
		}
	}
}

// clusterEngine sets up the choreography on the cluster, seeded, and
// returns its engine over a client that retries through failovers.
func clusterEngine(ctx context.Context, t *testing.T, c *testenv.RedisCluster) *choreography.Engine {
	t.Helper()
	rdb := config.RetryFailover(c.Client())
	catalog := shop.DefaultCatalog()
	node := choreography.NewNode(rdb, catalog, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := node.Bus.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := activities.Seed(ctx, rdb, activities.ChoreographyPrefix, catalog); err != nil {
		t.Fatal(err)
	}
	return choreography.NewEngine(node, catalog)
}
