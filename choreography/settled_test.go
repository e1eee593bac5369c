package choreography_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/shop"
)

// published is an event as it went out: its stream and its fields.
type published struct {
	stream string
	values map[string]any
}

// eventsOf returns every entry of the order's events still on the streams.
func (h *harness) eventsOf(orderID string) []published {
	h.t.Helper()
	var out []published
	for _, s := range h.node.Bus.Streams() {
		msgs, err := h.rdb.XRange(context.Background(), s, "-", "+").Result()
		if err != nil {
			h.t.Fatal(err)
		}
		for _, m := range msgs {
			raw, _ := m.Values["event"].(string)
			if ev, err := choreography.Decode([]byte(raw)); err == nil && ev.OrderID == orderID {
				out = append(out, published{stream: s, values: m.Values})
			}
		}
	}
	return out
}

// books is what a late event must not change.
type books struct {
	stock  map[string]int64
	ledger activities.Ledger
	keys   int64
}

func (h *harness) books() books {
	h.t.Helper()
	ctx := context.Background()
	stock, err := activities.Stock(ctx, h.rdb, activities.ChoreographyPrefix, shop.DefaultCatalog())
	if err != nil {
		h.t.Fatal(err)
	}
	l, err := activities.ReadLedger(ctx, h.rdb, activities.ChoreographyPrefix)
	if err != nil {
		h.t.Fatal(err)
	}
	return books{stock: stock, ledger: l, keys: h.rdb.DBSize(ctx).Val()}
}

// Once an order is settled, any later copy of any of its events is acked,
// counted and dropped: nothing is charged, reserved or recreated again.
func TestSettledOrdersDropLateEvents(t *testing.T) { onBoth(t, testSettledOrdersDropLateEvents) }

func testSettledOrdersDropLateEvents(t *testing.T, h *harness) {
	h.startAll()
	ctx := context.Background()
	orders := []shop.Order{
		order("late-done", nil),
		order("late-declined", shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultDecline}}),
		order("late-shipping", shop.FaultPlan{shop.OpSchedule: {Kind: shop.FaultDecline}}),
	}
	var copies []published
	for _, o := range orders {
		h.run(o)
	}
	waitDrained(t, h)
	for _, o := range orders {
		copies = append(copies, h.eventsOf(o.ID)...)
	}
	if n, err := h.node.Settle(ctx, 0, 1000); err != nil || n != len(orders) {
		t.Fatalf("settled %d orders (%v), want %d", n, err, len(orders))
	}
	if _, err := h.engine.Wait(ctx, "late-done"); !errors.Is(err, shop.ErrSettled) {
		t.Errorf("wait for a settled order: %v, want %v", err, shop.ErrSettled)
	}
	if _, err := h.engine.Wait(ctx, "never-placed"); !errors.Is(err, shop.ErrUnknownOrder) || errors.Is(err, shop.ErrSettled) {
		t.Errorf("wait for an order never placed: %v, want %v", err, shop.ErrUnknownOrder)
	}
	before := h.books()
	for _, c := range copies {
		if err := h.rdb.XAdd(ctx, &redis.XAddArgs{Stream: c.stream, Values: c.values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	waitDrained(t, h)
	time.Sleep(100 * time.Millisecond)
	waitDrained(t, h)
	after := h.books()
	for _, sku := range []string{"book", "pen"} {
		t.Logf("%s holds %v", sku, h.rdb.HGetAll(ctx, h.node.Bus.Layout().HoldsKey(sku)).Val())
	}
	d, _ := h.engine.Dropped(ctx)
	t.Logf("dropped %d of %d copies", d, len(copies))
	if after.ledger != before.ledger {
		t.Errorf("ledger moved from %+v to %+v", before.ledger, after.ledger)
	}
	for sku, n := range before.stock {
		if after.stock[sku] != n {
			t.Errorf("stock of %s moved from %d to %d", sku, n, after.stock[sku])
		}
	}
	for _, o := range orders {
		if _, err := h.engine.Status(ctx, o.ID); !errors.Is(err, shop.ErrUnknownOrder) || !errors.Is(err, shop.ErrSettled) {
			t.Errorf("status of settled order %s: %v, want unknown and settled", o.ID, err)
		}
		inv, pay, ship := h.node.Bus.Layout().OrderKeys(o.ID)
		if n := h.rdb.Exists(ctx, inv, pay, ship).Val(); n != 0 {
			t.Errorf("order %s: %d participant records recreated", o.ID, n)
		}
	}
	if orders, err := h.engine.Orders(ctx); err != nil || len(orders) != 0 {
		t.Errorf("orders after settling: %v (%v)", orders, err)
	}
	dropped, err := h.engine.Dropped(ctx)
	if err != nil || dropped == 0 {
		t.Errorf("late events counted as dropped: %d (%v), want some", dropped, err)
	}
	rep := h.verify()
	if !rep.OK() {
		t.Errorf("verify: %v", rep.Violations)
	}
}

// Redriving a dead letter checks that its order is not settled and puts
// it back in one step: an order settled just before the redrive commits is
// never worked on again.
func TestRedriveOfASettledOrderIsRefused(t *testing.T) {
	onBoth(t, testRedriveOfASettledOrderIsRefused)
}

func testRedriveOfASettledOrderIsRefused(t *testing.T, h *harness) {
	h.startAll()
	ctx := context.Background()
	h.run(order("redrive-late", nil))
	waitDrained(t, h)
	placed := h.eventsOf("redrive-late")[0]
	if err := h.node.Bus.AddDeadLetter(ctx, placed.stream, choreography.ServiceInventory, placed.values); err != nil {
		t.Fatal(err)
	}
	dl, err := h.node.Bus.DeadLetters(ctx, 0)
	if err != nil || len(dl) != 1 {
		t.Fatalf("dead letters %v (%v)", dl, err)
	}
	before := h.books()
	// The order is settled right before the redrive writes anything: before
	// its first transaction, script or XADD.
	hooked := h.newClient()
	bus := choreography.NewBus(hooked)
	settled := false
	hooked.AddHook(beforeEach(func(_ context.Context, names []string) {
		if settled || !slices.ContainsFunc(names, func(n string) bool { return n == "multi" || n == "evalsha" || n == "eval" || n == "xadd" }) {
			return
		}
		settled = true
		if _, err := h.node.Settle(ctx, 0, 1000); err != nil {
			t.Error(err)
		}
	}))
	_, err = bus.Redrive(ctx, dl[0].ID)
	if !settled {
		t.Fatal("the redrive wrote nothing")
	}
	if err == nil || !strings.Contains(err.Error(), "settled") {
		t.Errorf("redrive of a settled order's event: %v, want a refusal", err)
	}
	waitDrained(t, h)
	time.Sleep(100 * time.Millisecond)
	waitDrained(t, h)
	if after := h.books(); after.ledger != before.ledger || after.stock["book"] != before.stock["book"] {
		t.Errorf("books moved: %+v -> %+v", before, after)
	}
	if _, err := h.engine.Status(ctx, "redrive-late"); !errors.Is(err, shop.ErrUnknownOrder) {
		t.Errorf("status after the redrive: %v, want unknown", err)
	}
}

// beforeEach runs before every command or pipeline a client sends, with
// the names of the commands.
type beforeEach func(ctx context.Context, names []string)

func (b beforeEach) DialHook(next redis.DialHook) redis.DialHook { return next }

func (b beforeEach) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		b(ctx, []string{cmd.Name()})
		return next(ctx, cmd)
	}
}

func (b beforeEach) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		names := make([]string, len(cmds))
		for i, c := range cmds {
			names[i] = c.Name()
		}
		b(ctx, names)
		return next(ctx, cmds)
	}
}
