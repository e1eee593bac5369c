package activities_test

import (
	"testing"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// Reserve checks items itself (catalog, quantity bounds) instead of trusting
// its caller, so a SKU listed twice must not slip past the stock check.
func TestReserveDuplicateSKUNeverOversells(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("dup", item("poster", 6), item("poster", 6))
	_, err := e.do(shop.OpReserve, in)
	if err != nil {
		wantBusiness(t, err, activities.ErrTypeInventoryRejected)
	}
	if got := e.stockOf("poster"); got < 0 {
		t.Fatalf("poster stock = %d after reserving 6+6 of 10: stock went negative", got)
	}
	if _, err := e.do(shop.OpRelease, in); err != nil {
		t.Fatal(err)
	}
	if got := e.stockOf("poster"); got != 10 {
		t.Fatalf("poster stock = %d after reserve and release, want 10", got)
	}
}

// A Reserve refused by its own item check is a business failure like any
// other: with an outbox the failure event must be published and the incoming
// entry acked, or the choreographed order never finishes.
func TestOutboxInvalidItemsPublishFailureAndAck(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newInbox(e)
	for _, items := range [][]shop.Item{{item("sofa", 1)}, {item("poster", 0)}} {
		id := b.deliver()
		in := input("bad-"+items[0].SKU, items...)
		in.Outbox = newOutbox(id, "InventoryReserved", "InventoryRejected")
		res, err := e.do(shop.OpReserve, in)
		wantBusiness(t, err, activities.ErrTypeInventoryRejected)
		if res.Emitted == "" {
			t.Errorf("reserve of %v: no failure event emitted", items)
		}
		if b.isPending(id) {
			t.Errorf("reserve of %v: entry %s left pending", items, id)
		}
	}
	if got := len(e.entries(failStream)); got != 2 {
		t.Fatalf("%s has %d entries, want 2 InventoryRejected events", failStream, got)
	}
}
