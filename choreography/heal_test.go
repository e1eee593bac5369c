package choreography_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/shop"
)

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
	// it first), so the refund waits for it while the key breaks.
	reserved := h.node.Bus.StreamFor(o.ID, choreography.ServiceInventory)
	waitFor(t, "the charge under way", func() bool {
		p, err := h.rdb.XPending(ctx, reserved, choreography.ServicePayment).Result()
		return err == nil && p.Count == 1
	})
	h.stop("payment-1")
	waitFor(t, "the declined shipment", func() bool {
		st, _ := lay.ReadOrderState(ctx, h.rdb, o.ID)
		return st.Done(shop.OpCharge) && st.Ops[shop.OpSchedule].Status == "fail"
	})
	key := broken(lay, o.ID)
	dump, err := h.rdb.Dump(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.rdb.Set(ctx, key, "broken", 0).Err(); err != nil {
		t.Fatal(err)
	}
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
	if err := h.rdb.RestoreReplace(ctx, key, 0, dump).Err(); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := h.engine.Wait(wctx, o.ID)
	if err != nil || out.Status != shop.StatusCompensated {
		t.Fatalf("after the fix: %+v %v", out, err)
	}
	waitDrained(t, h)
	if rep := h.verify(); !rep.OK() {
		t.Fatalf("verify: %v", rep.Violations)
	}
}
