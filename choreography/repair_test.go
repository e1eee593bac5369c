package choreography_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// A refused refund leaves the order FAILED; once repaired it ends
// COMPENSATED, with the books balanced and verify clean. A repair asked
// twice, or while it runs, does no harm; the FAILED order is not settled
// before its repair.
func TestRepairAFailedRefund(t *testing.T) { onBoth(t, testRepairAFailedRefund) }

func testRepairAFailedRefund(t *testing.T, h *harness) {
	h.startAll()
	ctx := context.Background()
	faults := shop.FaultPlan{shop.OpSchedule: {Kind: shop.FaultDecline}, shop.OpRefund: {Kind: shop.FaultDecline}}
	out := h.run(order("mend-refund", faults))
	if out.Status != shop.StatusFailed {
		t.Fatalf("status %s, want FAILED", out.Status)
	}
	waitDrained(t, h)
	if n, err := h.node.Settle(ctx, 0, 1000); err != nil || n != 0 {
		t.Fatalf("settled %d (%v): a FAILED order was settled", n, err)
	}
	if rep := h.verify(); rep.OK() {
		t.Fatal("verify is clean with a FAILED order")
	}
	// Twice at once: exactly one starts the repair; the other finds it
	// running, or done.
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- h.engine.Repair(ctx, "mend-refund") }()
	}
	started := 0
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			started++
		case !errors.Is(err, shop.ErrRepairRunning) && !errors.Is(err, shop.ErrRepaired):
			t.Fatalf("repair: %v", err)
		}
	}
	if started != 1 {
		t.Fatalf("%d repairs started, want 1", started)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := h.engine.Wait(wctx, "mend-refund")
	if err != nil || out.Status != shop.StatusCompensated {
		t.Fatalf("after the repair: %+v, %v", out, err)
	}
	if !slices.Contains(out.Compensated, shop.StepPayment) || !slices.Contains(out.Compensated, shop.StepInventory) {
		t.Fatalf("compensated %v, want payment and inventory", out.Compensated)
	}
	waitDrained(t, h)
	if rep := h.verify(); !rep.OK() {
		t.Fatalf("verify after the repair: %v", rep.Violations)
	}
	if l := h.books().ledger; l.Charges != 1 || l.Refunds != 1 || l.ChargedCents != l.RefundedCents {
		t.Fatalf("ledger %+v, want one charge refunded once", l)
	}
	if err := h.engine.Repair(ctx, "mend-refund"); !errors.Is(err, shop.ErrRepaired) {
		t.Fatalf("repair of a repaired order: %v, want ErrRepaired", err)
	}
	if n, err := h.node.Settle(ctx, 0, 1000); err != nil || n != 1 {
		t.Fatalf("settled %d (%v) after the repair, want 1", n, err)
	}
}

// A refused release, and two refused compensations: each repair runs what
// was refused, in reverse saga order, and ends COMPENSATED.
func TestRepairRefusedReleases(t *testing.T) { onBoth(t, testRepairRefusedReleases) }

func testRepairRefusedReleases(t *testing.T, h *harness) {
	h.startAll()
	ctx := context.Background()
	plans := map[string]shop.FaultPlan{
		"mend-release": {shop.OpCharge: {Kind: shop.FaultDecline}, shop.OpRelease: {Kind: shop.FaultDecline}},
		"mend-both": {shop.OpSchedule: {Kind: shop.FaultDecline}, shop.OpRefund: {Kind: shop.FaultDecline},
			shop.OpRelease: {Kind: shop.FaultDecline}},
	}
	for id, plan := range plans {
		if out := h.run(order(id, plan)); out.Status != shop.StatusFailed {
			t.Fatalf("%s: %s, want FAILED", id, out.Status)
		}
		if err := h.engine.Repair(ctx, id); err != nil {
			t.Fatalf("repair %s: %v", id, err)
		}
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		out, err := h.engine.Wait(wctx, id)
		cancel()
		if err != nil || out.Status != shop.StatusCompensated {
			t.Fatalf("%s after the repair: %+v, %v", id, out, err)
		}
		st, _ := activities.ReadOrderState(ctx, h.rdb, activities.ChoreographyPrefix, id)
		if !st.Done(shop.OpRelease) {
			t.Fatalf("%s: release not done: %+v", id, st.Ops)
		}
	}
	waitDrained(t, h)
	if rep := h.verify(); !rep.OK() {
		t.Fatalf("verify after the repairs: %v", rep.Violations)
	}
	if err := h.engine.Repair(ctx, "never-placed"); !errors.Is(err, shop.ErrUnknownOrder) {
		t.Fatalf("repair of an unknown order: %v", err)
	}
	h.run(order("fine", nil))
	if err := h.engine.Repair(ctx, "fine"); !errors.Is(err, shop.ErrNotRepairable) {
		t.Fatalf("repair of a COMPLETED order: %v", err)
	}
}
