package activities_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// A batch gives every call the outcome Commit gives it alone: successes,
// refusals (stock short, a planned decline), a transient fault, an
// unknown operation, a delayed call; the same batch again finds every
// operation done and changes nothing.
func TestCommitBatchKeepsEachOutcome(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	in := func(id string, qty int, faults shop.FaultPlan) activities.OrderInput {
		return activities.OrderInput{OrderID: id, Items: []shop.Item{{SKU: "book", Quantity: qty}, {SKU: "pen", Quantity: 1}}, Faults: faults}
	}
	if _, err := e.p.Inventory.Reserve(ctx, in("b-paid", 1, nil)); err != nil {
		t.Fatal(err)
	}
	calls := []activities.Call{
		{Op: shop.OpReserve, In: in("b-ok", 2, nil)},
		{Op: shop.OpReserve, In: activities.OrderInput{OrderID: "b-short", Items: []shop.Item{{SKU: "pen", Quantity: 1}, {SKU: "poster", Quantity: 11}}}},
		{Op: shop.OpCharge, In: in("b-declined", 1, shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultDecline}})},
		{Op: shop.OpCharge, In: in("b-paid", 1, nil)},
		{Op: shop.OpSchedule, In: in("b-flaky", 1, shop.FaultPlan{shop.OpSchedule: {Kind: shop.FaultTransient, Attempts: 1}})},
		{Op: "teleport", In: in("b-odd", 1, nil)},
		{Op: shop.OpCharge, In: in("b-slow", 1, shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultDelay, Delay: 200 * time.Millisecond}})},
		{Op: shop.OpRelease, In: in("b-ok-released", 1, nil)},
	}
	start := time.Now()
	outs := e.p.CommitBatch(ctx, calls)
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("batch took %s, less than the planned delay", took)
	}
	var refusal *activities.RefusalError
	var transient *activities.TransientError
	checks := []func(activities.Outcome) bool{
		func(o activities.Outcome) bool { return o.Err == nil && !o.Result.Duplicate },
		func(o activities.Outcome) bool { return errors.As(o.Err, &refusal) && refusal.Op == shop.OpReserve },
		func(o activities.Outcome) bool { return errors.As(o.Err, &refusal) && refusal.Op == shop.OpCharge },
		func(o activities.Outcome) bool { return o.Err == nil && o.Result.Detail != "" },
		func(o activities.Outcome) bool { return errors.As(o.Err, &transient) },
		func(o activities.Outcome) bool { return o.Err != nil && !errors.As(o.Err, &refusal) },
		func(o activities.Outcome) bool { return o.Err == nil },
		func(o activities.Outcome) bool { return o.Err == nil },
	}
	for i, ok := range checks {
		if !ok(outs[i]) {
			t.Errorf("call %d (%s %s): %+v", i, calls[i].Op, calls[i].In.OrderID, outs[i])
		}
	}
	stock, err := activities.Stock(ctx, e.rdb, e.prefix, e.cat)
	if err != nil {
		t.Fatal(err)
	}
	again := e.p.CommitBatch(ctx, calls)
	for i := range calls {
		if calls[i].Op == "teleport" || calls[i].In.OrderID == "b-flaky" {
			continue
		}
		if again[i].Result.Detail != outs[i].Result.Detail || !again[i].Result.Duplicate && again[i].Err == nil {
			t.Errorf("call %d again: %+v, first %+v", i, again[i], outs[i])
		}
	}
	after, _ := activities.Stock(ctx, e.rdb, e.prefix, e.cat)
	if after["book"] != stock["book"] || after["pen"] != stock["pen"] || after["poster"] != 10 {
		t.Errorf("stock moved on the second batch: %v then %v", stock, after)
	}
}
