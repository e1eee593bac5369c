package activities

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ordersaga/ordersaga/internal/platform/keyspace"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// stockEnv is a store over its own redis-server, for stepping through a
// reservation one command at a time, as a crash between commands leaves it.
type stockEnv struct {
	t   *testing.T
	st  Store
	lay Layout
	p   Participants
}

func newStockEnv(t *testing.T) *stockEnv {
	t.Helper()
	rdb := testenv.StartRedis(t).Client()
	cat := shop.Catalog{
		"a": {Name: "a", PriceCents: 100, InitialStock: 5},
		"b": {Name: "b", PriceCents: 100, InitialStock: 5},
	}
	if err := Seed(t.Context(), rdb, "s:", cat); err != nil {
		t.Fatal(err)
	}
	lay, err := NewLayout("s:", 4)
	if err != nil {
		t.Fatal(err)
	}
	p := NewWith(rdb, lay, cat)
	return &stockEnv{t: t, st: p.Inventory.Store, lay: lay, p: p}
}

// steps runs one per-SKU action for the given lines only.
func (e *stockEnv) steps(action string, lines ...stockLine) {
	e.t.Helper()
	if _, err := e.st.skuSteps(context.Background(), e.lay, action, orderStock{orderID: "o1", lines: lines}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *stockEnv) want(a, b int64) {
	e.t.Helper()
	s, err := Stock(context.Background(), e.st.Redis, "s:", e.st.Catalog)
	if err != nil {
		e.t.Fatal(err)
	}
	if s["a"] != a || s["b"] != b {
		e.t.Fatalf("stock a=%d b=%d, want %d and %d", s["a"], s["b"], a, b)
	}
}

var order2 = OrderInput{OrderID: "o1", Items: []shop.Item{{SKU: "a", Quantity: 2}, {SKU: "b", Quantity: 3}}}

// A crash after the first SKU was reserved: the retry reserves the rest
// and takes the first once.
func TestReserveFinishesAfterACrashBetweenSKUs(t *testing.T) {
	e := newStockEnv(t)
	e.steps("reserve", stockLine{"a", 2})
	e.want(3, 5)
	res, err := e.p.Inventory.Reserve(t.Context(), order2)
	if err != nil || res.Duplicate {
		t.Fatalf("reserve = %+v, %v", res, err)
	}
	e.want(3, 2)
	if res, err := e.p.Inventory.Reserve(t.Context(), order2); err != nil || !res.Duplicate {
		t.Fatalf("second reserve = %+v, %v; want a duplicate", res, err)
	}
	e.want(3, 2)
}

// A shortage on a later SKU releases the earlier ones, also when the
// crash came after the per-SKU steps or after the roll back.
func TestShortReservationRollsBackAfterACrash(t *testing.T) {
	for _, rolledBack := range []bool{false, true} {
		e := newStockEnv(t)
		in := OrderInput{OrderID: "o1", Items: []shop.Item{{SKU: "a", Quantity: 2}, {SKU: "b", Quantity: 6}}}
		e.steps("reserve", stockLine{"a", 2}, stockLine{"b", 6})
		if rolledBack {
			e.steps("rollback", stockLine{"a", 2})
		}
		_, err := e.p.Inventory.Reserve(t.Context(), in)
		if r, ok := IsRefusal(err); !ok || r.Reason != "out of stock: b has 5, wanted 6" {
			t.Fatalf("reserve: %v, want out of stock", err)
		}
		e.want(5, 5)
		if _, err := e.p.Inventory.Reserve(t.Context(), in); err == nil {
			t.Fatal("a retry reserved")
		}
		e.want(5, 5)
	}
}

// A release that overtakes a reservation caught between its per-SKU steps
// and its commit wins: the stock comes back, and the reservation's retry
// is refused.
func TestReleaseOvertakesAReservation(t *testing.T) {
	e := newStockEnv(t)
	e.steps("reserve", stockLine{"a", 2}, stockLine{"b", 3})
	e.want(3, 2)
	if res, err := e.p.Inventory.Release(t.Context(), order2); err != nil || res.Detail != "nothing reserved" {
		t.Fatalf("release = %+v, %v", res, err)
	}
	e.want(5, 5)
	_, err := e.p.Inventory.Reserve(t.Context(), order2)
	if r, ok := IsRefusal(err); !ok || r.Reason != "order was released before it was reserved" {
		t.Fatalf("reserve after the release: %v", err)
	}
	e.want(5, 5)
	st, err := e.lay.ReadOrderState(t.Context(), e.st.Redis, "o1")
	if err != nil || st.Done(shop.OpReserve) || !st.Done(shop.OpRelease) || len(st.Reserved) != 0 {
		t.Fatalf("state %+v, %v", st, err)
	}
}

// P is recorded once: a process configured with another is refused, with
// the recorded value and the setting to change in the message.
func TestEnsurePartitions(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	ctx := t.Context()
	if n, err := RecordedPartitions(ctx, rdb, "p:"); err != nil || n != 1 {
		t.Fatalf("nothing recorded on one Redis: %d, %v; want 1", n, err)
	}
	if l, err := EnsurePartitions(ctx, rdb, "q:", 0); err != nil || l.Partitions != 1 {
		t.Fatalf("none configured nor recorded on one Redis: %+v, %v; want 1 partition", l, err)
	}
	if _, err := EnsurePartitions(ctx, rdb, "p:", 5); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsurePartitions(ctx, rdb, "p:", 5); err != nil {
		t.Fatalf("the same again: %v", err)
	}
	_, err := EnsurePartitions(ctx, rdb, "p:", 12)
	if !errors.Is(err, ErrPartitions) || !strings.Contains(err.Error(), "set up with 5 partitions") || !strings.Contains(err.Error(), "ORDERSAGA_PARTITIONS=5") {
		t.Fatalf("another P: %v", err)
	}
	for _, bad := range []int{-1, keyspace.MaxPartitions + 1} {
		if _, err := EnsurePartitions(ctx, rdb, "q:", bad); err == nil {
			t.Errorf("P=%d accepted", bad)
		}
	}
	// Participants built without a layout follow the recorded P.
	lay, _ := NewLayout("p:", 5)
	p := New(rdb, "p:", shop.Catalog{"a": {Name: "a", PriceCents: 1, InitialStock: 1}})
	if _, err := p.Payment.Charge(ctx, OrderInput{OrderID: "x", Items: []shop.Item{{SKU: "a", Quantity: 1}}}); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, lay.LedgerKey(lay.Partition("x"))).Val(); n != 1 {
		t.Fatal("the charge did not go to the ledger of the recorded layout")
	}
}

// Partition tags spread evenly over equal slot ranges, and are stable.
func TestPartitionTags(t *testing.T) {
	for _, n := range []int{1, 3, 12, 16, 100} {
		lay, err := NewLayout("x:", n)
		if err != nil {
			t.Fatal(err)
		}
		for p := range n {
			s := keyspace.Slot(lay.PartitionPrefix(p) + "k")
			if s < p*keyspace.Count/n || s >= (p+1)*keyspace.Count/n {
				t.Errorf("P=%d: partition %d in slot %d, outside its range", n, p, s)
			}
		}
	}
	// Data in Redis depends on these: they must never change.
	lay, _ := NewLayout("ordersaga:chor:", 12)
	if got := lay.PartitionPrefix(0) + lay.PartitionPrefix(11); got != "ordersaga:chor:{p0.1}:ordersaga:chor:{p11.42}:" {
		t.Errorf("partitions 0 and 11 of 12: %q", got)
	}
	if a, b := lay.Partition("order-1"), lay.Partition("a"); a != 1 || b != 4 {
		t.Errorf("partitions of order-1 and a: %d and %d, want 1 and 4", a, b)
	}
}
