package activities_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

const testPrefix = "t:"

// env is one participant set over its own redis-server.
type env struct {
	t      *testing.T
	rdb    *redis.Client
	prefix string
	cat    shop.Catalog
	p      activities.Participants
}

func newEnv(t *testing.T, cat shop.Catalog) *env {
	t.Helper()
	if cat == nil {
		cat = shop.DefaultCatalog()
	}
	rdb := startRedis(t)
	if err := activities.Seed(t.Context(), rdb, testPrefix, cat); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return &env{t: t, rdb: rdb, prefix: testPrefix, cat: cat, p: activities.New(rdb, testPrefix, cat)}
}

// startRedis starts a redis-server and makes sure the client talks to it and
// not to another test's server that won a race for the same free port.
func startRedis(t *testing.T) *redis.Client {
	t.Helper()
	for range 5 {
		srv := testenv.StartRedis(t)
		rdb := srv.Client()
		dir, err := rdb.ConfigGet(t.Context(), "dir").Result()
		if err != nil {
			t.Fatalf("config get dir: %v", err)
		}
		if sameDir(dir["dir"], srv.Dir) {
			return rdb
		}
		t.Logf("redis on %s belongs to another test (dir %s, want %s); starting another", srv.Addr, dir["dir"], srv.Dir)
		srv.Stop()
	}
	t.Fatal("could not start a redis-server of this test's own")
	return nil
}

func sameDir(a, b string) bool {
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	return errA == nil && errB == nil && ra == rb
}

func (e *env) stock() map[string]int64 {
	e.t.Helper()
	s, err := activities.Stock(e.t.Context(), e.rdb, e.prefix, e.cat)
	if err != nil {
		e.t.Fatalf("stock: %v", err)
	}
	return s
}

func (e *env) stockOf(sku string) int64 {
	e.t.Helper()
	return e.stock()[sku]
}

func (e *env) ledger() activities.Ledger {
	e.t.Helper()
	l, err := activities.ReadLedger(e.t.Context(), e.rdb, e.prefix)
	if err != nil {
		e.t.Fatalf("ledger: %v", err)
	}
	return l
}

// shipments reads the shipping participant's counters (scheduled, cancelled).
func (e *env) shipments() map[string]int64 {
	e.t.Helper()
	s, err := activities.ReadShipments(e.t.Context(), e.rdb, e.prefix)
	if err != nil {
		e.t.Fatalf("shipments: %v", err)
	}
	out := map[string]int64{}
	if s.Scheduled != 0 {
		out["scheduled"] = s.Scheduled
	}
	if s.Cancelled != 0 {
		out["cancelled"] = s.Cancelled
	}
	return out
}

func (e *env) do(op shop.Op, in activities.OrderInput) (activities.Result, error) {
	e.t.Helper()
	return e.p.Do(e.t.Context(), op, in)
}

// mustDo runs op and fails the test on any error.
func (e *env) mustDo(op shop.Op, in activities.OrderInput) activities.Result {
	e.t.Helper()
	res, err := e.do(op, in)
	if err != nil {
		e.t.Fatalf("%s %s: %v", op, in.OrderID, err)
	}
	return res
}

func input(id string, items ...shop.Item) activities.OrderInput {
	if len(items) == 0 {
		items = []shop.Item{{SKU: "book", Quantity: 1}}
	}
	return activities.OrderInput{OrderID: id, Items: items}
}

func item(sku string, qty int) shop.Item { return shop.Item{SKU: sku, Quantity: qty} }

func plan(t *testing.T, specs ...string) shop.FaultPlan {
	t.Helper()
	p, err := shop.ParseFaultPlan(specs)
	if err != nil {
		t.Fatalf("fault plan %q: %v", specs, err)
	}
	return p
}

// wantBusiness checks that err is a refusal of the given type.
func wantBusiness(t *testing.T, err error, typ string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want refusal %s", typ)
	}
	r, ok := activities.IsRefusal(err)
	if !ok {
		t.Fatalf("IsRefusal(%v) = false, want %s", err, typ)
	}
	if r.Type() != typ {
		t.Fatalf("refusal type = %q, want %q (error %v)", r.Type(), typ, err)
	}
	if activities.IsTransient(err) {
		t.Fatalf("IsTransient(%v) = true for a refusal", err)
	}
}

// wantTransient checks that err is an injected transient fault.
func wantTransient(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("got no error, want a transient fault")
	}
	if !activities.IsTransient(err) {
		t.Fatalf("IsTransient(%v) = false", err)
	}
	if _, ok := activities.IsRefusal(err); ok {
		t.Fatalf("IsRefusal(%v) = true for a transient fault", err)
	}
	if !strings.HasPrefix(err.Error(), activities.ErrTypeTransient+": ") {
		t.Fatalf("transient error %q does not name %s", err, activities.ErrTypeTransient)
	}
}
