package choreography_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
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
	h.start(choreography.ServiceNotify, "notify-1")
	h.start(choreography.ServiceFraud, "fraud-1")
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
	// The five forged InventoryReserved carry no plan, so the fraud group
	// checks them against the order's records too: they are dead-lettered
	// once per group that reads the inventory stream (payment, fraud).
	const forged = 7 + 5
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

// A refund that fails with an error that is not a refusal (its payment
// record, or the payment ledger, has the wrong type: a stand-in for a bug
// or an outage) is retried past the delivery limit and never
// dead-lettered; once the key is fixed the order ends COMPENSATED by
// itself, with no redrive.
func TestCompensationRetriesUntilItHeals(t *testing.T) {
	t.Run("payment record", func(t *testing.T) {
		testCompensationHeals(t, func(l activities.Layout, id string) string { _, pay, _ := l.OrderKeys(id); return pay })
	})
	t.Run("ledger", func(t *testing.T) {
		testCompensationHeals(t, func(l activities.Layout, id string) string { return l.LedgerKey(l.Partition(id)) })
	})
}

func testCompensationHeals(t *testing.T, broken func(activities.Layout, string) string) {
	h := newHarness(t)
	ctx := context.Background()
	cfg := fastConfig
	cfg.MaxDeliveries = 3
	for _, s := range choreography.Services {
		h.startWith(s, s+"-1", cfg)
	}
	o := order("heal", shop.FaultPlan{shop.OpSchedule: {Kind: shop.FaultDecline}, shop.OpCharge: {Kind: shop.FaultDelay, Delay: 300 * time.Millisecond}})
	if err := h.engine.Place(ctx, o); err != nil {
		t.Fatal(err)
	}
	lay := h.node.Bus.Layout()
	// The payment service stops once the charge is under way (it finishes
	// it first), so the refund waits for it while the key breaks. It
	// charges on the fraud check's FraudCleared.
	reserved := h.node.Bus.StreamFor(o.ID, choreography.ServiceFraud)
	waitFor(t, "the charge under way", func() bool {
		p, err := h.rdb.XPending(ctx, reserved, choreography.ServicePayment).Result()
		return err == nil && p.Count == 1
	})
	h.stop("payment-1")
	waitFor(t, "the declined shipment", func() bool {
		st, _ := lay.ReadOrderState(ctx, h.rdb, o.ID)
		return st.Done(shop.OpCharge) && st.Ops[shop.OpSchedule].Status == "fail"
	})
	// The ShipmentFailed waits unread while the payment service is down.
	waitCompensating(t, h, 100*time.Millisecond, 1, "the refund's event unread past the threshold")
	waitCompensating(t, h, time.Minute, 0, "the refund's event unread, under the default threshold")
	restore := breakKey(t, h.rdb, broken(lay, o.ID))
	h.startWith(choreography.ServicePayment, "payment-1", cfg)

	failed := h.node.Bus.StreamFor(o.ID, choreography.ServiceShipping)
	waitFor(t, "the refund retried past the delivery limit", func() bool {
		p, err := h.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: failed, Group: choreography.ServicePayment,
			Start: "-", End: "+", Count: 10}).Result()
		return err == nil && len(p) == 1 && p[0].RetryCount > 2*cfg.MaxDeliveries
	})
	if dl, _ := h.node.Bus.DeadLetters(ctx, 0); len(dl) != 0 {
		t.Fatalf("the refund was dead-lettered: %+v", dl)
	}
	shownCompensating(t, h, o.ID)
	restore()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := h.engine.Wait(wctx, o.ID)
	if err != nil || out.Status != shop.StatusCompensated {
		t.Fatalf("after the fix: %+v %v", out, err)
	}
	waitDrained(t, h)
	waitCompensating(t, h, 100*time.Millisecond, 0, "the refund done")
	if rep := h.verify(); !rep.OK() {
		t.Fatalf("verify: %v", rep.Violations)
	}
}

// shownCompensating checks that an order whose refund keeps failing is
// PENDING under the default alert threshold, and COMPENSATING past a short
// one: in status, in the live page's list and in the count of orders
// compensating (its event now pending in the payment group).
func shownCompensating(t *testing.T, h *harness, orderID string) {
	t.Helper()
	ctx := context.Background()
	if p, err := h.engine.Status(ctx, orderID); err != nil || p.Status != shop.StatusPending {
		t.Errorf("status with the refund retrying for less than the alert threshold: %+v %v, want PENDING", p, err)
	}
	h.engine.CompensationAlertAfter = 100 * time.Millisecond
	waitFor(t, "the order shown COMPENSATING", func() bool {
		p, err := h.engine.Status(ctx, orderID)
		return err == nil && p.Status == shop.StatusCompensating && p.Current == shop.OpRefund && p.RetryingSince != nil
	})
	if recs, _, err := h.engine.Recent(ctx, 10); err != nil || len(recs) != 1 || recs[0].Status != shop.StatusCompensating {
		t.Errorf("recent orders (the live page's list) %+v %v: want the order COMPENSATING", recs, err)
	}
	waitCompensating(t, h, 100*time.Millisecond, 1, "the refund retrying past the threshold")
}

// breakKey replaces key with a string, and returns what puts it back.
func breakKey(t *testing.T, rdb redis.UniversalClient, key string) (restore func()) {
	t.Helper()
	ctx := context.Background()
	dump, err := rdb.Dump(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, key, "broken", 0).Err(); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := rdb.RestoreReplace(ctx, key, 0, dump).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// waitCompensating waits until Compensating, with the alert threshold
// after, counts refunds orders (and no release).
func waitCompensating(t *testing.T, h *harness, after time.Duration, refunds int, what string) {
	t.Helper()
	want := map[shop.Op]int{shop.OpRefund: refunds, shop.OpRelease: 0}
	var got map[shop.Op]int
	var err error
	teststack.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
		if got, err = h.node.Compensating(context.Background(), after); err != nil || !maps.Equal(got, want) {
			return fmt.Errorf("%s: orders compensating %v %v, want %v", what, got, err, want)
		}
		return nil
	})
}
