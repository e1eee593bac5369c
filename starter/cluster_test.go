package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// TestOnACluster: on a three-master Redis Cluster (--redis-cluster-url),
// orders on both engines, completed, compensated and retried, then stock,
// verify, dlq list and redrive and a reset all work, with no multi-key
// command across slots.
func TestOnACluster(t *testing.T) {
	c := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3})
	tsrv := testenv.StartTemporal(t)
	rdb := c.Client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	catalog := shop.DefaultCatalog()
	tc, err := client.Dial(client.Options{HostPort: tsrv.Address, Namespace: tsrv.Namespace, Logger: tlog.NewStructuredLogger(quiet)})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if err := activities.Seed(ctx, rdb, activities.OrchestrationPrefix, catalog); err != nil {
		t.Fatal(err)
	}
	w := workflows.NewWorker(tc, rdb, catalog, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	node := choreography.NewNode(rdb, catalog, quiet)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, svc := range choreography.Services {
		wg.Go(func() {
			cfg := choreography.ConsumerConfig{Name: svc + "-1", RetryBase: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond}
			if err := node.RunService(ctx, svc, cfg); err != nil {
				t.Errorf("%s: %v", svc, err)
			}
		})
	}
	globals := []string{"--redis-cluster-url", c.URL(), "--temporal-address", tsrv.Address, "--namespace", "default"}
	must := func(args ...string) result {
		t.Helper()
		r := starter(t, append(globals, args...)...)
		if r.code != 0 {
			t.Fatalf("want exit 0:\n%s", r)
		}
		return r
	}
	for i, fail := range [][]string{nil, {"--fail", "payment"}, {"--fail", "shipping"}, {"--fail", "payment:transient:2"}} {
		args := append([]string{"order", "--mode", "both", "--id", newID("cluster-" + string(rune('a'+i)))}, fail...)
		r := must(args...)
		want := "COMPLETED"
		if len(fail) > 0 && !strings.Contains(fail[1], "transient") {
			want = "COMPENSATED"
		}
		if strings.Count(r.stdout, want) < 2 {
			t.Fatalf("want %s on both engines:\n%s", want, r)
		}
	}
	must("stock")
	must("verify")
	must("dlq", "list")
	must("dlq", "redrive")
	must("stock", "--reset")
	if r := must("verify", "--json"); !strings.Contains(r.stdout, `"orders":0`) && !strings.Contains(r.stdout, `"orders": 0`) {
		t.Fatalf("verify after the reset:\n%s", r)
	}
}
