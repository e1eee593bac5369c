package scenarios_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/scenarios"
	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// TestBothEnginesAgree runs the scenario table on a real Temporal dev server
// and on Redis Streams, against one redis-server, and checks that every
// scenario ends the same way in both, and that the invariants hold after;
// once per Temporal backend (the dev server, and Temporal on PostgreSQL).
func TestBothEnginesAgree(t *testing.T) {
	for _, backend := range testenv.TemporalBackends {
		t.Run(backend, func(t *testing.T) {
			bothEnginesAgree(t, testenv.StartTemporalBackend(t, backend), testenv.StartRedis(t).Client())
		})
	}
}

// TestBothEnginesAgreeOnACluster is the same on a Redis Cluster of three
// masters, with the dev server.
func TestBothEnginesAgreeOnACluster(t *testing.T) {
	bothEnginesAgree(t, testenv.StartTemporalBackend(t, testenv.BackendDev),
		testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3}).Client())
}

func bothEnginesAgree(t *testing.T, tsrv *testenv.RunningTemporal, rdb redis.UniversalClient) {
	ctx := context.Background()
	eng := teststack.StartEngines(t, tsrv.Address, tsrv.Namespace, rdb)
	catalog := eng.Catalog
	orch := workflows.NewEngine(eng.Temporal, catalog).WithRedis(rdb)
	chor := choreography.NewEngine(eng.Node, catalog)
	sources := []verify.Source{orch, chor}

	results := make([]map[string]shop.Outcome, len(sources))
	for i, src := range sources {
		results[i] = scenarios.Run(t, src, rdb, src.Prefix())
	}
	for _, sc := range scenarios.Table() {
		o, c := results[0][sc.Name], results[1][sc.Name]
		if o.Status != c.Status || !slices.Equal(o.Steps, c.Steps) || !slices.Equal(o.Compensated, c.Compensated) || o.FailedStep != c.FailedStep || o.Reason != c.Reason {
			t.Errorf("%s: engines disagree:\n  orchestration %s steps %v compensated %v failed %q: %s\n  choreography  %s steps %v compensated %v failed %q: %s",
				sc.Name, o.Status, o.Steps, o.Compensated, o.FailedStep, o.Reason, c.Status, c.Steps, c.Compensated, c.FailedStep, c.Reason)
		}
	}

	// verify sees the same: only the FAILED scenarios are reported, as FAILED.
	failed := 0
	for _, sc := range scenarios.Table() {
		if sc.Status == shop.StatusFailed {
			failed++
		}
	}
	for _, src := range sources {
		rep, err := verify.Check(ctx, rdb, src, catalog, verify.Options{})
		if err != nil {
			t.Fatalf("verify %s: %v", src.Mode(), err)
		}
		if rep.Orders != len(scenarios.Table()) {
			t.Errorf("verify %s saw %d orders, want %d", src.Mode(), rep.Orders, len(scenarios.Table()))
		}
		if len(rep.Violations) != failed || rep.Statuses[shop.StatusFailed] != failed {
			t.Errorf("verify %s: want exactly the %d FAILED orders reported, got %d violations: %v", src.Mode(), failed, len(rep.Violations), rep.Violations)
		}
		if rep.Histories == 0 {
			t.Errorf("verify %s checked no history", src.Mode())
		}
	}
	for i, src := range sources {
		wrongChargeIsSeen(t, rdb, src, results[i])
	}
	// Every order of the scenarios is one whose customer must be told.
	for _, src := range sources {
		recs, err := src.Orders(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Unnotified {
				t.Errorf("%s: order %s is listed as ending without a notification", src.Mode(), r.ID)
			}
		}
	}
}

// wrongChargeIsSeen moves a cent onto a COMPLETED order's charge, in the
// payment record and the ledger alike (so the books still add up): verify
// reports the charge that is not the price of the order as placed.
func wrongChargeIsSeen(t *testing.T, rdb redis.UniversalClient, src verify.Source, results map[string]shop.Outcome) {
	t.Helper()
	ctx := context.Background()
	var id string
	for _, out := range results {
		if out.Status == shop.StatusCompleted {
			id = out.OrderID
			break
		}
	}
	lay, err := activities.LayoutOf(ctx, rdb, src.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	_, pay, _ := lay.OrderKeys(id)
	move := func(cents int64) {
		rdb.HIncrBy(ctx, pay, "amount", cents)
		rdb.HIncrBy(ctx, lay.LedgerKey(lay.Partition(id)), "charged_cents", cents)
	}
	move(1)
	defer move(-1)
	rep, err := verify.Check(ctx, rdb, src, shop.DefaultCatalog(), verify.Options{})
	if err != nil {
		t.Fatalf("verify %s: %v", src.Mode(), err)
	}
	for _, v := range rep.Violations {
		if v.Kind == shop.ViolationMoney && v.OrderID == id && strings.Contains(v.Message, "price as placed") {
			return
		}
	}
	t.Errorf("verify %s: a charge one cent above the price of %s went unseen: %v", src.Mode(), id, rep.Violations)
}
