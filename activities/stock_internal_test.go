package activities

import (
	"context"
	"testing"

	"github.com/ordersaga/ordersaga/internal/testenv"
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
	if _, err := e.st.skuSteps(context.Background(), e.lay, action, "o1", "", lines); err != nil {
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
