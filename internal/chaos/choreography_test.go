package chaos_test

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/testenv"
	"github.com/ordersaga/ordersaga/internal/verify"
	"github.com/ordersaga/ordersaga/shop"
)

// TestChoreographyUnderChaos: four service processes on a Redis that writes
// every change to its append-only file; mid-run the payment service is
// SIGKILLed and left down, redis-server is killed and restarted, the
// inventory service is killed and restarted at once, a share of events is
// published twice and malformed entries are injected. Afterwards every order
// is terminal and verify finds stock and money conserved, nothing pending,
// and exactly the injected poison dead-lettered.
func TestChoreographyUnderChaos(t *testing.T) {
	const n = 300
	srv := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	rdb := srv.Client()
	catalog := shop.DefaultCatalog()
	node := choreography.NewNode(rdb, catalog, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := node.Bus.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := activities.Seed(ctx, rdb, activities.ChoreographyPrefix, catalog); err != nil {
		t.Fatal(err)
	}

	services := map[string]*proc{}
	for _, svc := range choreography.Services {
		p := newProc(t, svc, workerBin, env("REDIS_URL", srv.URL()),
			"--services", svc, "--consumer-name", "chaos", "--claim-idle", "2s", "--log-level", "warn")
		p.start()
		services[svc] = p
	}

	engine := choreography.NewEngine(node, catalog)
	r := &runner{engine: engine}
	orders := workload(7, n, "chor")

	var did []string
	var mu sync.Mutex
	note := func(s string) { mu.Lock(); did = append(did, s); mu.Unlock() }
	var dups, poison atomic.Int64
	chaosCtx, stopChaos := context.WithCancel(ctx)
	var chaos sync.WaitGroup
	chaos.Add(3)
	go func() {
		defer chaos.Done()
		at(chaosCtx, r, n/5, func() {
			services[choreography.ServicePayment].kill()
			note("SIGKILL payment, left down 1.5s")
			time.Sleep(1500 * time.Millisecond)
			services[choreography.ServicePayment].start()
		})
		at(chaosCtx, r, n/2, func() {
			srv.Restart()
			note("SIGKILL redis-server and restart it from its append-only file")
		})
		at(chaosCtx, r, 2*n/3, func() {
			services[choreography.ServiceInventory].kill()
			services[choreography.ServiceInventory].start()
			note("SIGKILL inventory, restarted at once")
		})
	}()
	// Duplicates: copies of recent entries of every stream.
	go func() {
		defer chaos.Done()
		rnd := rand.New(rand.NewPCG(1, 2))
		streams := node.Bus.Streams()
		for chaosCtx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
			s := streams[rnd.IntN(len(streams))]
			msgs, err := rdb.XRevRangeN(chaosCtx, s, "+", "-", 5).Result()
			if err != nil || len(msgs) == 0 {
				continue
			}
			m := msgs[rnd.IntN(len(msgs))]
			if raw, _ := m.Values["event"].(string); raw == "" {
				continue // never copy the injected poison: it is counted
			} else if _, err := choreography.Decode([]byte(raw)); err != nil {
				continue
			}
			if rdb.XAdd(chaosCtx, &redis.XAddArgs{Stream: s, Values: m.Values}).Err() == nil {
				dups.Add(1)
			}
		}
	}()
	// Poison, on the order stream (one consumer group reads it).
	go func() {
		defer chaos.Done()
		bad := []map[string]any{
			{"type": "OrderPlaced", "event": "{]"},
			{"type": "OrderPlaced", "event": `{"id":"p","type":"OrderPlaced","order_id":"p","version":7,"payload":{}}`},
			{"nothing": "useful"},
		}
		for i := 0; i < 6 && chaosCtx.Err() == nil; i++ {
			at(chaosCtx, r, int64((i+1)*n/8), func() {
				if rdb.XAdd(chaosCtx, &redis.XAddArgs{Stream: node.Bus.StreamOf(i, choreography.ServiceOrder), Values: bad[i%len(bad)]}).Err() == nil {
					poison.Add(1)
				}
			})
		}
	}()

	start := time.Now()
	r.run(ctx, t, orders, 16)
	stopChaos()
	chaos.Wait()
	if t.Failed() {
		return
	}
	// Let the duplicates and anything reclaimed drain.
	var rep verify.Report
	engine.ExpectDeadLetters = poison.Load()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var err error
		rep, err = verify.Check(ctx, rdb, engine, catalog, verify.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("choreography chaos: %s", join(did...))
	t.Logf("  %d orders in %s, %d duplicate events, %d poison entries, %d client retries through outages",
		n, time.Since(start).Round(time.Millisecond), dups.Load(), poison.Load(), r.retries.Load())
	t.Logf("  outcomes %v; verify: %d orders %v, %d histories checked, %d violations",
		r.counts(), rep.Orders, rep.Statuses, rep.Histories, len(rep.Violations))
	if rep.Orders != n {
		t.Errorf("verify saw %d orders, want %d", rep.Orders, n)
	}
	for _, v := range rep.Violations {
		t.Errorf("violation: %s", v)
	}
	if len(did) != 3 || dups.Load() == 0 || poison.Load() == 0 {
		t.Errorf("chaos did not all happen: %v, %d duplicates, %d poison", did, dups.Load(), poison.Load())
	}
	if got := r.counts(); got[shop.StatusCompleted] == 0 || got[shop.StatusCompensated] == 0 || got[shop.StatusFailed] != 0 {
		t.Errorf("outcomes %v: want completed and compensated orders and none FAILED", got)
	}
}

// A worker configured with another number of partitions than the one
// recorded refuses to start, and says which to use.
func TestWorkerRefusesOtherPartitions(t *testing.T) {
	srv := testenv.StartRedis(t)
	for _, prefix := range []string{activities.ChoreographyPrefix, activities.OrchestrationPrefix} {
		if _, err := activities.EnsurePartitions(context.Background(), srv.Client(), prefix, 12); err != nil {
			t.Fatal(err)
		}
	}
	for _, svc := range []string{choreography.ServiceOrder, "orchestration"} {
		cmd := exec.Command(workerBin, "--services", svc, "--partitions", "5")
		cmd.Env = append(os.Environ(), "REDIS_URL="+srv.URL(), "TEMPORAL_ADDRESS=127.0.0.1:1")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "set up with 12 partitions") || !strings.Contains(string(out), "ORDERSAGA_PARTITIONS=12") {
			t.Fatalf("worker --services %s --partitions 5: %v\n%s", svc, err, out)
		}
	}
}
