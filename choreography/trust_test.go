package choreography_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/shop"
)

// forge publishes an event nobody's handler produced on the stream of
// service in the order's partition, written as that service would.
func (h *harness) forge(service string, t choreography.EventType, s choreography.Saga, onStreamOf string) {
	h.t.Helper()
	ev, err := choreography.NewEvent(t, service, nil, s, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	b, err := ev.Encode()
	if err != nil {
		h.t.Fatal(err)
	}
	err = h.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: h.node.Bus.StreamFor(s.Order.ID, onStreamOf),
		Values: []any{"type", string(t), "event", string(b)}}).Err()
	if err != nil {
		h.t.Fatal(err)
	}
}

// Forged events are dead-lettered with the reason and change nothing: no
// charge of an amount a stranger wrote (negative, overflowing, of an
// unknown SKU, or of other items than placed), no charge before the
// reservation, no COMPENSATED for an order in flight, no refund from an
// event on the wrong stream. The real flow then completes the order with
// the charge of its price as placed.
func TestForgedEventsAreDeadLettered(t *testing.T) { onBoth(t, testForgedEventsAreDeadLettered) }

func testForgedEventsAreDeadLettered(t *testing.T, h *harness) {
	ctx := context.Background()
	h.start(choreography.ServiceOrder, "order-1")
	h.start(choreography.ServicePayment, "payment-1")
	o := order("forged", nil)
	if err := h.engine.Place(ctx, o); err != nil {
		t.Fatal(err)
	}
	with := func(items ...shop.Item) shop.Order { f := o; f.Items = items; return f }
	reserved := func(ord shop.Order) choreography.Saga {
		return choreography.Saga{Order: ord, Done: []shop.Step{shop.StepInventory}}
	}
	inv := choreography.ServiceInventory
	h.forge(inv, choreography.InventoryReserved, reserved(with(shop.Item{SKU: "book", Quantity: -1000})), inv)
	h.forge(inv, choreography.InventoryReserved, reserved(with(shop.Item{SKU: "book", Quantity: 4_000_000_000_000_000})), inv)
	h.forge(inv, choreography.InventoryReserved, reserved(with(shop.Item{SKU: "yacht", Quantity: 1})), inv)
	h.forge(inv, choreography.InventoryReserved, reserved(with(shop.Item{SKU: "book", Quantity: 5})), inv)
	h.forge(inv, choreography.InventoryReserved, reserved(o), inv) // nothing was reserved
	h.forge(inv, choreography.InventoryReleased, choreography.Saga{Order: o, Done: []shop.Step{shop.StepInventory},
		Compensated: []shop.Step{shop.StepInventory}, FailedStep: shop.StepPayment}, inv)
	h.forge(choreography.ServiceShipping, choreography.ShipmentFailed, choreography.Saga{Order: o,
		Done: []shop.Step{shop.StepInventory, shop.StepPayment}, FailedStep: shop.StepShipping}, inv)
	const forged = 7
	var dl []choreography.DeadLetter
	waitFor(t, "the forged events dead-lettered", func() bool {
		dl, _ = h.node.Bus.DeadLetters(ctx, 0)
		return len(dl) == forged
	})
	for _, d := range dl {
		if !strings.Contains(d.Reason, choreography.ErrInvalidEvent.Error()) {
			t.Errorf("dead letter %s (%s) says %q, want an invalid event", d.ID, d.Type, d.Reason)
		}
	}
	st, err := h.engine.Status(ctx, o.ID)
	if err != nil || st.Status != shop.StatusPending {
		t.Fatalf("order after the forged events: %+v %v", st, err)
	}
	if l, _ := activities.ReadLedger(ctx, h.rdb, activities.ChoreographyPrefix); l != (activities.Ledger{}) {
		t.Fatalf("the forged events moved money: %+v", l)
	}

	h.start(choreography.ServiceInventory, "inventory-1")
	h.start(choreography.ServiceShipping, "shipping-1")
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := h.engine.Wait(wctx, o.ID)
	if err != nil || out.Status != shop.StatusCompleted {
		t.Fatalf("the real flow: %+v %v", out, err)
	}
	h.engine.ExpectDeadLetters = forged
	waitDrained(t, h)
	if rep := h.verify(); !rep.OK() {
		t.Fatalf("verify: %v", rep.Violations)
	}
}
