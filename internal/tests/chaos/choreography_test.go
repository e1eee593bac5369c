package chaos_test

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// chaosRedis is where a choreography chaos run keeps its state: one Redis
// or a Redis Cluster, how the worker processes find it, and how the run
// crashes it mid-run.
type chaosRedis struct {
	rdb   redis.UniversalClient
	env   []string // the workers' connection setting
	crash func()   // kill (part of) Redis and bring it back from its AOF
	what  string   // what crash does, for the log
	// placesThrough: no Place may fail, the crash notwithstanding.
	placesThrough bool
}

// TestChoreographyUnderChaos: four service processes and a second payment
// instance on a Redis that writes every change to its append-only file and
// rewrites it mid-run; mid-run the payment service is SIGKILLed and left
// down, redis-server is killed and restarted, the inventory service is
// killed and restarted at once, a share of events is published twice,
// malformed entries are injected, some shipments take longer than the
// claim-idle time, the order service trims the streams as it goes, and
// finished orders are settled during the run (so duplicates of settled
// orders arrive).
// Afterwards every order is terminal and verify finds stock and money
// conserved, nothing pending or unread, and exactly the injected poison
// dead-lettered.
func TestChoreographyUnderChaos(t *testing.T) {
	srv := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	rdb := srv.Client()
	runChoreographyChaos(t, chaosRedis{rdb: rdb, env: env("REDIS_URL", srv.URL()),
		crash: func() {
			_ = rdb.BgRewriteAOF(context.Background()).Err()
			time.Sleep(200 * time.Millisecond)
			srv.Restart()
		},
		what: "BGREWRITEAOF, then SIGKILL redis-server and restart it from its append-only file"})
}

// TestChoreographyUnderChaosOnACluster is the same on a Redis Cluster of
// three masters with a replica each, where one master is SIGKILLed mid-run
// and stays down until its replica has taken over its slots, then comes
// back as a replica. Every client (the test's, the engine's, the worker
// processes') retries through the failover, so no Place fails.
func TestChoreographyUnderChaosOnACluster(t *testing.T) {
	c := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3, Replicas: 1, AppendOnly: true})
	runChoreographyChaos(t, chaosRedis{rdb: config.RetryFailover(c.Client()), env: env("REDIS_CLUSTER_URL", c.URL()),
		crash:         func() { failover(t, c) },
		what:          "SIGKILL one master of three, down until its replica took over, then back as a replica",
		placesThrough: true})
}

// failover kills a master, waits until its replica has taken over, and
// restarts the killed node, which rejoins as a replica.
func failover(t *testing.T, c *testenv.RedisCluster) {
	ctx := context.Background()
	masters := c.Masters(ctx)
	if len(masters) != 3 {
		t.Errorf("masters %v, want 3", masters)
		return
	}
	m := masters[1]
	killed := time.Now()
	c.Kill(m)
	t.Logf("%s: master %s killed", killed.Format("15:04:05.000"), c.Nodes[m].Addr)
	if err := c.WaitFailover(ctx, m); err != nil {
		t.Errorf("failover: %v", err)
		return
	}
	t.Logf("%s: its replica took over after %s", time.Now().Format("15:04:05.000"), time.Since(killed).Round(time.Millisecond))
	if err := c.RestartErr(m); err != nil {
		t.Errorf("restart %s: %v", c.Nodes[m].Addr, err)
		return
	}
	if now := c.Masters(ctx); len(now) != 3 || slices.Contains(now, m) {
		t.Errorf("masters after the failover %v: want three, %d not among them", now, m)
	}
	t.Logf("%s: %s back, as a replica", time.Now().Format("15:04:05.000"), c.Nodes[m].Addr)
}

func runChoreographyChaos(t *testing.T, cr chaosRedis) {
	const n = 300
	rdb := cr.rdb
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
	services := startChaosServices(t, cr.env)
	engine := choreography.NewEngine(node, catalog)
	r := &runner{engine: engine}
	orders := append(slowShipments(6), workload(7, n-6, "chor")...)

	var did []string
	var mu sync.Mutex
	note := func(s string) { mu.Lock(); did = append(did, s); mu.Unlock() }
	var dups, poison, typeless atomic.Int64
	chaosCtx, stopChaos := context.WithCancel(ctx)
	var chaos sync.WaitGroup
	chaos.Go(func() {
		at(chaosCtx, r, n/5, func() {
			services[choreography.ServicePayment].kill()
			note("SIGKILL payment, left down 1.5s")
			time.Sleep(1500 * time.Millisecond)
			services[choreography.ServicePayment].start()
		})
		at(chaosCtx, r, n/2, func() {
			cr.crash()
			note(cr.what)
		})
		at(chaosCtx, r, 2*n/3, func() {
			services[choreography.ServiceInventory].kill()
			services[choreography.ServiceInventory].start()
			note("SIGKILL inventory, restarted at once")
		})
	})
	chaos.Go(func() { duplicate(chaosCtx, rdb, node, &dups) })
	// Orders are settled 300ms after they were placed until two thirds
	// are placed (duplicates of their events keep coming); the rest stay
	// for verify to read their histories.
	chaos.Go(func() {
		settling, stop := context.WithCancel(chaosCtx)
		go at(chaosCtx, r, 2*n/3, stop)
		node.RunTrimmer(settling, 100*time.Millisecond, time.Second, 300*time.Millisecond)
	})
	chaos.Go(func() { injectPoison(chaosCtx, r, rdb, node, n, &poison, &typeless) })

	start := time.Now()
	r.run(ctx, t, orders, 16)
	stopChaos()
	chaos.Wait()
	if t.Failed() {
		return
	}
	// Each group that reads the order service's streams dead-letters the
	// entries it cannot read: the order service every poison entry, the
	// notify service (which reads only the terminal events) the typeless.
	engine.ExpectDeadLetters = poison.Load() + typeless.Load()
	rep := settleDown(ctx, t, rdb, engine, catalog)
	t.Logf("choreography chaos: %s", join(did...))
	t.Logf("  %d orders in %s, %d duplicate events, %d poison entries, %d client retries through outages (%d of them placements)",
		n, time.Since(start).Round(time.Millisecond), dups.Load(), poison.Load(), r.retries.Load(), r.placeFailures.Load())
	if cr.placesThrough && r.placeFailures.Load() != 0 {
		t.Errorf("%d placements failed during the failover, want none", r.placeFailures.Load())
	}
	t.Logf("  outcomes %v (%d more settled before their wait read them); verify: %d orders (%d settled) %v, %d histories checked, %d violations",
		r.counts(), r.settledUnseen.Load(), rep.Orders, rep.Settled, rep.Statuses, rep.Histories, len(rep.Violations))
	if rep.Orders != n {
		t.Errorf("verify saw %d orders, want %d", rep.Orders, n)
	}
	for _, v := range rep.Violations {
		t.Errorf("violation: %s", v)
	}
	if len(did) != 3 || dups.Load() == 0 || poison.Load() == 0 || rep.Settled == 0 || rep.Histories == 0 {
		t.Errorf("chaos did not all happen: %v, %d duplicates, %d poison, %d settled, %d histories",
			did, dups.Load(), poison.Load(), rep.Settled, rep.Histories)
	}
	if got := r.counts(); got[shop.StatusCompleted] == 0 || got[shop.StatusCompensated] == 0 || got[shop.StatusFailed] != 0 {
		t.Errorf("outcomes %v: want completed and compensated orders and none FAILED", got)
	}
}

// startChaosServices starts one worker process per service, and a second
// payment instance; the order service trims the streams as it goes.
func startChaosServices(t *testing.T, redisEnv []string) map[string]*proc {
	services := map[string]*proc{}
	for _, svc := range append(slices.Clone(choreography.Services), "payment-2") {
		name, args := svc, []string{"--consumer-name", "chaos"}
		if svc == "payment-2" {
			svc, args = choreography.ServicePayment, []string{"--consumer-name", "chaos-2"}
		}
		args = append(args, "--services", svc, "--claim-idle", "2s", "--log-level", "warn",
			"--order-retention", "0", "--trim-interval", "500ms", "--stream-retention", "1s")
		p := newProc(t, name, workerBin, redisEnv, args...)
		p.start()
		services[name] = p
	}
	return services
}

// slowShipments are orders whose shipment takes longer than the services'
// claim-idle time: they stay with the instance that took them.
func slowShipments(n int) []shop.Order {
	out := make([]shop.Order, n)
	for i := range out {
		out[i] = shop.Order{ID: "chor-slow-" + itoa(i), Customer: "chaos", Items: []shop.Item{{SKU: "pen", Quantity: 1}},
			Faults: shop.FaultPlan{shop.OpSchedule: {Kind: shop.FaultDelay, Delay: 2500 * time.Millisecond}}}
	}
	return out
}

// duplicate publishes copies of recent entries of every stream.
func duplicate(ctx context.Context, rdb redis.UniversalClient, node *choreography.Node, dups *atomic.Int64) {
	rnd := rand.New(rand.NewPCG(1, 2))
	streams := node.Bus.Streams()
	for ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		s := streams[rnd.IntN(len(streams))]
		msgs, err := rdb.XRevRangeN(ctx, s, "+", "-", 5).Result()
		if err != nil || len(msgs) == 0 {
			continue
		}
		m := msgs[rnd.IntN(len(msgs))]
		if raw, _ := m.Values["event"].(string); raw == "" {
			continue // never copy the injected poison: it is counted
		} else if _, err := choreography.Decode([]byte(raw)); err != nil {
			continue
		}
		if rdb.XAdd(ctx, &redis.XAddArgs{Stream: s, Values: m.Values}).Err() == nil {
			dups.Add(1)
		}
	}
}

// injectPoison adds malformed entries to order streams as the run goes.
func injectPoison(ctx context.Context, r *runner, rdb redis.UniversalClient, node *choreography.Node, n int, poison, typeless *atomic.Int64) {
	bad := []map[string]any{
		{"type": "OrderPlaced", "event": "{]"},
		{"type": "OrderPlaced", "event": `{"id":"p","type":"OrderPlaced","order_id":"p","version":7,"payload":{}}`},
		{"nothing": "useful"},
	}
	for i := 0; i < 6 && ctx.Err() == nil; i++ {
		at(ctx, r, int64((i+1)*n/8), func() {
			v := bad[i%len(bad)]
			if rdb.XAdd(ctx, &redis.XAddArgs{Stream: node.Bus.StreamOf(i%node.Bus.Layout().Partitions, choreography.ServiceOrder), Values: v}).Err() == nil {
				poison.Add(1)
				if _, ok := v["type"]; !ok {
					typeless.Add(1)
				}
			}
		})
	}
}

// settleDown lets the duplicates and anything reclaimed drain, then
// returns verify's report.
func settleDown(ctx context.Context, t *testing.T, rdb redis.UniversalClient, engine *choreography.Engine, catalog shop.Catalog) verify.Report {
	t.Helper()
	var rep verify.Report
	// The report after 60 s is returned whatever it says: the caller judges it.
	_ = poll.For(ctx, 60*time.Second, poll.Every(200*time.Millisecond), func(context.Context) (bool, error) {
		var err error
		if rep, err = verify.Check(ctx, rdb, engine, catalog, verify.Options{}); err != nil {
			t.Fatal(err)
		}
		return rep.OK(), nil
	})
	return rep
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
