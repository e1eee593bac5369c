package choreography_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/shop"
)

// A service reads its events in batches. Poison and forged events read in
// the same batch as good ones are dead-lettered each for its own reason,
// and their neighbours go on as if they were alone: each order ends as
// its plan says (a decline, a transient fault), and nothing else is
// dead-lettered.
func TestBatchNeighboursOfPoisonGoOn(t *testing.T) { onBoth(t, testBatchNeighboursOfPoisonGoOn) }

func testBatchNeighboursOfPoisonGoOn(t *testing.T, h *harness) {
	ctx := context.Background()
	for _, s := range []string{choreography.ServiceOrder, choreography.ServiceFraud, choreography.ServicePayment, choreography.ServiceShipping, choreography.ServiceNotify} {
		h.start(s, s+"-1")
	}
	// The inventory service is not running: every event below waits on
	// the order service's stream and is read in one batch.
	var orders []shop.Order
	for i := range 6 {
		var plan shop.FaultPlan
		switch i {
		case 2:
			plan = shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultDecline}}
		case 4:
			plan = shop.FaultPlan{shop.OpReserve: {Kind: shop.FaultTransient, Attempts: 1}}
		}
		o := order(fmt.Sprintf("batch-%d", i), plan)
		if err := h.engine.Place(ctx, o); err != nil {
			t.Fatal(err)
		}
		orders = append(orders, o)
		stream := h.node.Bus.StreamFor(o.ID, choreography.ServiceOrder)
		switch i {
		case 1:
			h.addRaw(stream, string(choreography.OrderPlaced), "{not json")
		case 3:
			h.forge(choreography.ServiceOrder, choreography.OrderPlaced,
				choreography.Saga{Order: order("batch-never-placed-"+o.ID, nil)}, choreography.ServiceOrder)
			forged := o
			forged.Items = []shop.Item{{SKU: "book", Quantity: 5}}
			h.forge(choreography.ServiceOrder, choreography.OrderPlaced, choreography.Saga{Order: forged}, choreography.ServiceOrder)
		}
	}
	h.start(choreography.ServiceInventory, "inventory-1")
	for i, o := range orders {
		want := shop.StatusCompleted
		if i == 2 {
			want = shop.StatusCompensated
		}
		wctx, cancel := context.WithTimeout(ctx, 30e9)
		out, err := h.engine.Wait(wctx, o.ID)
		cancel()
		if err != nil || out.Status != want {
			t.Errorf("order %s: %+v %v, want %s", o.ID, out, err, want)
		}
	}
	dl, err := h.node.Bus.DeadLetters(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, d := range dl {
		reasons = append(reasons, d.Reason)
	}
	if len(dl) != 2 || !strings.Contains(strings.Join(reasons, "\n"), "malformed event") ||
		!strings.Contains(strings.Join(reasons, "\n"), choreography.ErrInvalidEvent.Error()) {
		t.Errorf("dead letters %q, want the malformed and the forged event only", reasons)
	}
	for _, v := range h.verify().Violations {
		if !strings.Contains(v.String(), "dead-letter stream holds 2 entries") {
			t.Errorf("invariant broken: %v", v)
		}
	}
}

// addRaw adds an entry of type t whose event field is raw.
func (h *harness) addRaw(stream, t, raw string) {
	h.t.Helper()
	if err := h.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, Values: []any{"type", t, "event", raw}}).Err(); err != nil {
		h.t.Fatal(err)
	}
}
