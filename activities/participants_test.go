package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

func TestSeedAndStock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	want := map[string]int64{}
	for sku, p := range e.cat {
		want[sku] = p.InitialStock
	}
	if got := e.stock(); !reflect.DeepEqual(got, want) {
		t.Fatalf("stock after seed = %v, want %v", got, want)
	}
	e.mustDo(shop.OpReserve, input("o1", item("poster", 4)))
	if err := activities.Seed(t.Context(), e.rdb, e.prefix, e.cat); err != nil {
		t.Fatal(err)
	}
	if got := e.stockOf("poster"); got != 6 {
		t.Fatalf("seeding again reset stock: poster = %d, want 6", got)
	}
	if got, err := activities.Stock(t.Context(), e.rdb, "unseeded:", e.cat); err != nil || len(got) != 0 {
		t.Fatalf("stock of an unseeded prefix = %v, %v; want empty", got, err)
	}
}

func TestReserveTwiceReservesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("o1", item("book", 2), item("poster", 3))
	first := e.mustDo(shop.OpReserve, in)
	if first.Duplicate || first.OrderID != "o1" || first.Op != "reserve" {
		t.Fatalf("first reserve = %+v", first)
	}
	second := e.mustDo(shop.OpReserve, in)
	if !second.Duplicate {
		t.Fatalf("second reserve = %+v, want Duplicate", second)
	}
	if got := e.stockOf("poster"); got != 7 {
		t.Fatalf("poster = %d, want 7", got)
	}
	if got := e.stockOf("book"); got != 1_000_000-2 {
		t.Fatalf("book = %d, want %d", got, 1_000_000-2)
	}
}

func TestReleaseTwiceReleasesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("o1", item("poster", 3), item("mug", 5))
	e.mustDo(shop.OpReserve, input("other", item("poster", 2)))
	e.mustDo(shop.OpReserve, in)
	first := e.mustDo(shop.OpRelease, in)
	if first.Duplicate || first.Detail != "released" {
		t.Fatalf("first release = %+v", first)
	}
	second := e.mustDo(shop.OpRelease, in)
	if !second.Duplicate || second.Detail != "released" {
		t.Fatalf("second release = %+v, want a duplicate of the first", second)
	}
	if got := e.stockOf("poster"); got != 8 {
		t.Fatalf("poster = %d, want 8 (other order still holds 2)", got)
	}
	if got := e.stockOf("mug"); got != 1_000_000 {
		t.Fatalf("mug = %d, want all back", got)
	}
	again := e.mustDo(shop.OpReserve, in)
	if !again.Duplicate {
		t.Fatalf("reserve after release = %+v, want a duplicate that changes nothing", again)
	}
	if got := e.stockOf("poster"); got != 8 {
		t.Fatalf("poster after late reserve = %d, want 8", got)
	}
}

func TestChargeTwiceChargesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("o1", item("book", 2), item("pen", 3))
	want := int64(2*4200 + 3*199)
	first := e.mustDo(shop.OpCharge, in)
	if first.Duplicate || first.Detail != strconv.FormatInt(want, 10) {
		t.Fatalf("first charge = %+v, want detail %d", first, want)
	}
	second := e.mustDo(shop.OpCharge, in)
	if !second.Duplicate || second.Detail != first.Detail {
		t.Fatalf("second charge = %+v, want duplicate with detail %s", second, first.Detail)
	}
	if l := e.ledger(); l != (activities.Ledger{ChargedCents: want, Charges: 1}) {
		t.Fatalf("ledger = %+v, want one charge of %d", l, want)
	}
}

func TestRefundTwiceRefundsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("o1", item("lamp", 2))
	e.mustDo(shop.OpCharge, in)
	first := e.mustDo(shop.OpRefund, in)
	if first.Duplicate || first.Detail != "7998" {
		t.Fatalf("first refund = %+v, want detail 7998", first)
	}
	second := e.mustDo(shop.OpRefund, in)
	if !second.Duplicate || second.Detail != "7998" {
		t.Fatalf("second refund = %+v", second)
	}
	want := activities.Ledger{ChargedCents: 7998, RefundedCents: 7998, Charges: 1, Refunds: 1}
	if l := e.ledger(); l != want {
		t.Fatalf("ledger = %+v, want %+v", l, want)
	}
}

func TestRefundWithoutChargeIsNoOpAndBlocksLateCharge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("o1", item("book", 1))
	res := e.mustDo(shop.OpRefund, in)
	if res.Duplicate || res.Detail != "0" {
		t.Fatalf("refund without charge = %+v, want detail 0", res)
	}
	if l := e.ledger(); l != (activities.Ledger{}) {
		t.Fatalf("ledger after refund without charge = %+v, want untouched", l)
	}
	res, err := e.do(shop.OpCharge, in)
	wantBusiness(t, err, activities.ErrTypePaymentDeclined)
	if !strings.Contains(res.Detail, "refunded before it was charged") {
		t.Fatalf("late charge detail = %q", res.Detail)
	}
	if l := e.ledger(); l != (activities.Ledger{}) {
		t.Fatalf("ledger after late charge = %+v, want untouched", l)
	}
	res, err = e.do(shop.OpCharge, in)
	wantBusiness(t, err, activities.ErrTypePaymentDeclined)
	if !res.Duplicate {
		t.Fatalf("second late charge = %+v, want duplicate", res)
	}
}

func TestReleaseBeforeReserveBlocksLateReserve(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("o1", item("poster", 2))
	res := e.mustDo(shop.OpRelease, in)
	if res.Duplicate || res.Detail != "nothing reserved" {
		t.Fatalf("release before reserve = %+v", res)
	}
	if got := e.stockOf("poster"); got != 10 {
		t.Fatalf("poster after release of nothing = %d, want 10", got)
	}
	res, err := e.do(shop.OpReserve, in)
	wantBusiness(t, err, activities.ErrTypeInventoryRejected)
	if !strings.Contains(res.Detail, "released before it was reserved") {
		t.Fatalf("late reserve detail = %q", res.Detail)
	}
	if got := e.stockOf("poster"); got != 10 {
		t.Fatalf("poster after late reserve = %d, want 10", got)
	}
}

func TestScheduleAndCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("o1")
	res := e.mustDo(shop.OpSchedule, in)
	if res.Duplicate || res.Detail != "SHP-o1" {
		t.Fatalf("schedule = %+v", res)
	}
	res = e.mustDo(shop.OpSchedule, in)
	if !res.Duplicate || res.Detail != "SHP-o1" {
		t.Fatalf("second schedule = %+v", res)
	}
	if got := e.shipments(); !reflect.DeepEqual(got, map[string]int64{"scheduled": 1}) {
		t.Fatalf("shipments = %v, want one scheduled", got)
	}
	res = e.mustDo(shop.OpCancel, in)
	if res.Duplicate || res.Detail != "cancelled" {
		t.Fatalf("cancel = %+v", res)
	}
	res = e.mustDo(shop.OpCancel, in)
	if !res.Duplicate {
		t.Fatalf("second cancel = %+v", res)
	}
	if got := e.shipments(); !reflect.DeepEqual(got, map[string]int64{"scheduled": 1, "cancelled": 1}) {
		t.Fatalf("shipments = %v, want one scheduled and one cancelled", got)
	}
}

func TestCancelWithoutScheduleIsNoOpAndBlocksLateSchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("o1")
	res := e.mustDo(shop.OpCancel, in)
	if res.Duplicate || res.Detail != "nothing scheduled" {
		t.Fatalf("cancel without schedule = %+v", res)
	}
	if got := e.shipments(); len(got) != 0 {
		t.Fatalf("shipments after cancel of nothing = %v, want none", got)
	}
	res, err := e.do(shop.OpSchedule, in)
	wantBusiness(t, err, activities.ErrTypeShipmentFailed)
	if !strings.Contains(res.Detail, "cancelled before it was scheduled") {
		t.Fatalf("late schedule detail = %q", res.Detail)
	}
	if got := e.shipments(); len(got) != 0 {
		t.Fatalf("shipments after late schedule = %v, want none", got)
	}
}

func TestCompensationAfterFailedForwardIsNoOp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)

	reserve := input("r", item("poster", 11))
	_, err := e.do(shop.OpReserve, reserve)
	wantBusiness(t, err, activities.ErrTypeInventoryRejected)
	if res := e.mustDo(shop.OpRelease, reserve); res.Detail != "nothing reserved" {
		t.Fatalf("release after rejected reserve = %+v", res)
	}
	if got := e.stockOf("poster"); got != 10 {
		t.Fatalf("poster = %d, want 10", got)
	}

	charge := input("c", item("book", 1))
	charge.Faults = plan(t, "payment")
	_, err = e.do(shop.OpCharge, charge)
	wantBusiness(t, err, activities.ErrTypePaymentDeclined)
	if res := e.mustDo(shop.OpRefund, charge); res.Detail != "0" {
		t.Fatalf("refund after declined charge = %+v", res)
	}
	if l := e.ledger(); l != (activities.Ledger{}) {
		t.Fatalf("ledger = %+v, want untouched", l)
	}

	ship := input("s")
	ship.Faults = plan(t, "shipping")
	_, err = e.do(shop.OpSchedule, ship)
	wantBusiness(t, err, activities.ErrTypeShipmentFailed)
	if res := e.mustDo(shop.OpCancel, ship); res.Detail != "nothing scheduled" {
		t.Fatalf("cancel after failed schedule = %+v", res)
	}
	if got := e.shipments(); len(got) != 0 {
		t.Fatalf("shipments = %v, want none", got)
	}
}

func TestDeclineFault(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, op := range shop.Ops {
		t.Run(string(op), func(t *testing.T) {
			in := input("decline-"+string(op), item("poster", 1))
			in.Faults = shop.FaultPlan{op: {Kind: shop.FaultDecline}}
			if op.IsCompensation() {
				// The forward operation succeeds, so the compensation has work to do.
				if _, err := e.p.Do(t.Context(), op.Step().Forward(), in); err != nil {
					t.Fatal(err)
				}
			}
			res, err := e.p.Do(t.Context(), op, in)
			wantBusiness(t, err, activities.FailureType(op))
			if res.Duplicate || res.Detail != "declined by fault plan" || res.Op != string(op) {
				t.Fatalf("declined %s = %+v", op, res)
			}
			res, err = e.p.Do(t.Context(), op, in)
			wantBusiness(t, err, activities.FailureType(op))
			if !res.Duplicate {
				t.Fatalf("second declined %s = %+v, want duplicate", op, res)
			}
		})
	}
	// Reserve declined; release declined after a successful reserve keeps its stock out.
	if got := e.stockOf("poster"); got != 9 {
		t.Fatalf("poster = %d, want 9 (only the release-declined order holds one)", got)
	}
	// Charge declined; refund declined after a successful charge keeps the money.
	if l := e.ledger(); l != (activities.Ledger{ChargedCents: 2500, Charges: 1}) {
		t.Fatalf("ledger = %+v, want only the refund-declined order charged", l)
	}
	if got := e.shipments(); !reflect.DeepEqual(got, map[string]int64{"scheduled": 1}) {
		t.Fatalf("shipments = %v, want only the cancel-declined order scheduled", got)
	}
}

func TestTransientFault(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("o1", item("book", 1), item("poster", 2))
	in.Faults = plan(t, "payment:transient:2", "inventory:transient:1")

	for attempt := 1; attempt <= 2; attempt++ {
		res, err := e.do(shop.OpCharge, in)
		wantTransient(t, err)
		if want := "attempt " + strconv.Itoa(attempt) + " of 2"; !strings.Contains(res.Detail, want) {
			t.Fatalf("attempt %d detail = %q, want it to mention %q", attempt, res.Detail, want)
		}
		if l := e.ledger(); l != (activities.Ledger{}) {
			t.Fatalf("ledger after transient attempt %d = %+v, want untouched", attempt, l)
		}
	}
	res := e.mustDo(shop.OpCharge, in)
	if res.Duplicate || res.Detail != "9200" {
		t.Fatalf("third charge = %+v, want the real charge of 9200", res)
	}
	for range 3 {
		if res := e.mustDo(shop.OpCharge, in); !res.Duplicate {
			t.Fatalf("charge after success = %+v, want duplicate", res)
		}
	}
	if l := e.ledger(); l != (activities.Ledger{ChargedCents: 9200, Charges: 1}) {
		t.Fatalf("ledger = %+v, want exactly one charge of 9200", l)
	}

	_, err := e.do(shop.OpReserve, in)
	wantTransient(t, err)
	if got := e.stockOf("poster"); got != 10 {
		t.Fatalf("poster after transient reserve = %d, want 10", got)
	}
	e.mustDo(shop.OpReserve, in)
	e.mustDo(shop.OpReserve, in)
	if got := e.stockOf("poster"); got != 8 {
		t.Fatalf("poster = %d, want 8", got)
	}

	// Attempts are counted per order: another order with the same plan fails again.
	other := input("o2", item("book", 1))
	other.Faults = in.Faults
	_, err = e.do(shop.OpCharge, other)
	wantTransient(t, err)
}

func TestTransientFaultOnCompensation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("o1", item("poster", 4))
	in.Faults = plan(t, "release:transient:3")
	e.mustDo(shop.OpReserve, in)
	for range 3 {
		_, err := e.do(shop.OpRelease, in)
		wantTransient(t, err)
		if got := e.stockOf("poster"); got != 6 {
			t.Fatalf("poster during transient release = %d, want 6", got)
		}
	}
	if res := e.mustDo(shop.OpRelease, in); res.Duplicate || res.Detail != "released" {
		t.Fatalf("release = %+v", res)
	}
	e.mustDo(shop.OpRelease, in)
	if got := e.stockOf("poster"); got != 10 {
		t.Fatalf("poster = %d, want 10", got)
	}
}

func TestTransientReleaseDoesNotTombstone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("o1", item("poster", 1))
	in.Faults = plan(t, "release:transient:1")
	_, err := e.do(shop.OpRelease, in)
	wantTransient(t, err)
	// A release that never ran must not block the reservation.
	e.mustDo(shop.OpReserve, in)
	if res := e.mustDo(shop.OpRelease, in); res.Detail != "released" {
		t.Fatalf("release = %+v, want the reservation released", res)
	}
	if got := e.stockOf("poster"); got != 10 {
		t.Fatalf("poster = %d, want 10", got)
	}
}

func TestDelayFault(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("o1", item("poster", 1))
	in.Faults = plan(t, "inventory:delay:100ms")
	start := time.Now()
	res := e.mustDo(shop.OpReserve, in)
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Fatalf("delayed reserve took %v, want at least 100ms", took)
	}
	if res.Duplicate {
		t.Fatalf("reserve = %+v", res)
	}
	if got := e.stockOf("poster"); got != 9 {
		t.Fatalf("poster = %d, want 9", got)
	}
	// Operations without a planned delay are not slowed down.
	start = time.Now()
	e.mustDo(shop.OpCharge, in)
	if took := time.Since(start); took >= 100*time.Millisecond {
		t.Fatalf("charge without delay took %v", took)
	}
}

func TestDelayFaultHonoursCancellation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("o1", item("poster", 1))
	in.Faults = plan(t, "inventory:delay:1m")

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := e.p.Inventory.Reserve(ctx, in)
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("reserve with a 1m delay ignored its 50ms deadline")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("reserve under a 50ms deadline = %v, want DeadlineExceeded", err)
	}
	if _, ok := activities.IsRefusal(err); ok || activities.IsTransient(err) {
		t.Fatalf("cancellation %v is classified as a business or transient fault", err)
	}

	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	_, err = e.p.Inventory.Reserve(ctx, in)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("reserve on a cancelled context = %v, want Canceled", err)
	}
	if got := e.stockOf("poster"); got != 10 {
		t.Fatalf("poster after cancelled reserves = %d, want 10", got)
	}

	// Without the delay the same order reserves normally: nothing was recorded.
	in.Faults = nil
	if res := e.mustDo(shop.OpReserve, in); res.Duplicate {
		t.Fatalf("reserve = %+v, want a first run", res)
	}
}

func TestOutOfStock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	res, err := e.do(shop.OpReserve, input("big", item("poster", 11)))
	wantBusiness(t, err, activities.ErrTypeInventoryRejected)
	if want := "out of stock: poster has 10, wanted 11"; res.Detail != want {
		t.Fatalf("detail = %q, want %q", res.Detail, want)
	}
	if got := e.stockOf("poster"); got != 10 {
		t.Fatalf("poster = %d, want 10", got)
	}
	res, err = e.do(shop.OpReserve, input("big", item("poster", 11)))
	wantBusiness(t, err, activities.ErrTypeInventoryRejected)
	if !res.Duplicate {
		t.Fatalf("retried rejected reserve = %+v, want duplicate", res)
	}

	e.mustDo(shop.OpReserve, input("all", item("poster", 10)))
	if got := e.stockOf("poster"); got != 0 {
		t.Fatalf("poster = %d, want 0", got)
	}
	_, err = e.do(shop.OpReserve, input("one-more", item("poster", 1)))
	wantBusiness(t, err, activities.ErrTypeInventoryRejected)
	if got := e.stockOf("poster"); got != 0 {
		t.Fatalf("poster = %d, want 0", got)
	}
}

func TestReserveIsAllOrNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	before := e.stock()
	orders := [][]shop.Item{
		{item("book", 5), item("mug", 2), item("poster", 11)},
		{item("poster", 11), item("book", 5)},
		{item("book", 5), item("poster", 11), item("pen", 1)},
	}
	for i, items := range orders {
		_, err := e.do(shop.OpReserve, input("multi-"+strconv.Itoa(i), items...))
		wantBusiness(t, err, activities.ErrTypeInventoryRejected)
		if got := e.stock(); !reflect.DeepEqual(got, before) {
			t.Fatalf("stock after rejected order %v = %v, want %v", items, got, before)
		}
	}
	e.mustDo(shop.OpReserve, input("ok", item("book", 5), item("poster", 10), item("pen", 1)))
	after := e.stock()
	want := map[string]int64{"book": before["book"] - 5, "poster": 0, "pen": before["pen"] - 1, "mug": before["mug"], "lamp": before["lamp"]}
	if !reflect.DeepEqual(after, want) {
		t.Fatalf("stock = %v, want %v", after, want)
	}
}

func TestReserveRejectsInvalidItems(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	bad := []struct {
		name   string
		items  []shop.Item
		reason string
	}{
		{"unknown SKU", []shop.Item{item("sofa", 1)}, "invalid item sofa x1"},
		{"quantity 0", []shop.Item{item("poster", 0)}, "invalid item poster x0"},
		{"negative", []shop.Item{item("poster", -3)}, "invalid item poster x-3"},
		{"quantity 1001", []shop.Item{item("book", 1001)}, "invalid item book x1001"},
		{"bad after good", []shop.Item{item("poster", 1), item("sofa", 1)}, "invalid item sofa x1"},
		{"empty SKU", []shop.Item{item("", 1)}, "invalid item  x1"},
		{"no items", nil, "no items"},
	}
	before := e.stock()
	for i, c := range bad {
		in := activities.OrderInput{OrderID: "bad-" + strconv.Itoa(i), Items: c.items}
		res, err := e.do(shop.OpReserve, in)
		wantBusiness(t, err, activities.ErrTypeInventoryRejected)
		if res.Detail != c.reason || res.Duplicate {
			t.Fatalf("%s: reserve = %+v, want detail %q", c.name, res, c.reason)
		}
		res, err = e.do(shop.OpReserve, in)
		wantBusiness(t, err, activities.ErrTypeInventoryRejected)
		if !res.Duplicate || res.Detail != c.reason {
			t.Fatalf("%s: retried reserve = %+v, want the recorded refusal", c.name, res)
		}
		if got := e.stock(); !reflect.DeepEqual(got, before) {
			t.Fatalf("%s: stock = %v, want %v", c.name, got, before)
		}
		if res := e.mustDo(shop.OpRelease, in); res.Detail != "nothing reserved" {
			t.Fatalf("%s: release = %+v", c.name, res)
		}
	}
	if got := e.stock(); !reflect.DeepEqual(got, before) {
		t.Fatalf("stock = %v, want %v", got, before)
	}
}

func TestPrefixesIsolateEngines(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()
	for _, prefix := range []string{"a:", "b:"} {
		if err := activities.Seed(ctx, e.rdb, prefix, e.cat); err != nil {
			t.Fatal(err)
		}
	}
	a := activities.New(e.rdb, "a:", e.cat)
	b := activities.New(e.rdb, "b:", e.cat)

	in := input("same-id", item("poster", 10), item("book", 1))
	for _, op := range []shop.Op{shop.OpReserve, shop.OpCharge, shop.OpSchedule} {
		if _, err := a.Do(ctx, op, in); err != nil {
			t.Fatalf("a %s: %v", op, err)
		}
	}
	if _, err := a.Do(ctx, shop.OpRelease, input("tombstone", item("poster", 1))); err != nil {
		t.Fatal(err)
	}

	stockB, err := activities.Stock(ctx, e.rdb, "b:", e.cat)
	if err != nil {
		t.Fatal(err)
	}
	if stockB["poster"] != 10 || stockB["book"] != 1_000_000 {
		t.Fatalf("b: stock = %v, want untouched", stockB)
	}
	if l, _ := activities.ReadLedger(ctx, e.rdb, "b:"); l != (activities.Ledger{}) {
		t.Fatalf("b: ledger = %+v, want empty", l)
	}
	if n, _ := e.rdb.Exists(ctx, "b:shipments").Result(); n != 0 {
		t.Fatal("b: shipments counter exists")
	}

	// The same order ID is a first run under the other prefix, and a's
	// tombstone does not block b.
	for _, op := range []shop.Op{shop.OpReserve, shop.OpCharge, shop.OpSchedule} {
		res, err := b.Do(ctx, op, in)
		if err != nil || res.Duplicate {
			t.Fatalf("b %s = %+v, %v; want a first run", op, res, err)
		}
	}
	if _, err := b.Do(ctx, shop.OpReserve, input("tombstone", item("poster", 1))); err == nil {
		t.Fatal("b: reserve of 1 poster succeeded with all 10 reserved")
	} else {
		wantBusiness(t, err, activities.ErrTypeInventoryRejected)
	}

	stockA, _ := activities.Stock(ctx, e.rdb, "a:", e.cat)
	if stockA["poster"] != 0 {
		t.Fatalf("a: poster = %d, want 0", stockA["poster"])
	}
	la, _ := activities.ReadLedger(ctx, e.rdb, "a:")
	lb, _ := activities.ReadLedger(ctx, e.rdb, "b:")
	if la != lb || la.Charges != 1 || la.ChargedCents != 25000+4200 {
		t.Fatalf("ledgers a=%+v b=%+v, want one charge of 29200 each", la, lb)
	}
	if got := e.stock(); got["poster"] != 10 {
		t.Fatalf("the test prefix was touched: %v", got)
	}
}

func TestLedgerSums(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	type order struct {
		in      activities.OrderInput
		charge  bool
		refund  bool
		charged bool // the charge is expected to succeed
	}
	var orders []order
	for i := range 12 {
		in := input("L"+strconv.Itoa(i), item("book", i%3+1), item("pen", i+1))
		o := order{in: in, charge: i%4 != 3, refund: i%3 == 0}
		if i == 5 {
			o.in.Faults = plan(t, "payment")
		}
		if i == 6 {
			o.in.Faults = plan(t, "refund")
		}
		o.charged = o.charge && i != 5
		orders = append(orders, o)
	}

	var wantNet, wantCharged, wantRefunded, wantCharges, wantRefunds int64
	for _, o := range orders {
		amount := shop.Order{Items: o.in.Items}.Total(e.cat)
		if o.charge {
			_, err := e.do(shop.OpCharge, o.in)
			if o.charged != (err == nil) {
				t.Fatalf("charge %s: %v", o.in.OrderID, err)
			}
			_, _ = e.do(shop.OpCharge, o.in)
		}
		refunded := false
		if o.refund {
			_, err := e.do(shop.OpRefund, o.in)
			refunded = err == nil && o.charged
			_, _ = e.do(shop.OpRefund, o.in)
		}
		if o.charged {
			wantCharged += amount
			wantCharges++
		}
		if refunded {
			wantRefunded += amount
			wantRefunds++
		}
		if o.charged && !refunded {
			wantNet += amount
		}
	}
	l := e.ledger()
	if got := l.ChargedCents - l.RefundedCents; got != wantNet {
		t.Fatalf("charged − refunded = %d, want Σ amounts of charged, unrefunded orders = %d (ledger %+v)", got, wantNet, l)
	}
	want := activities.Ledger{ChargedCents: wantCharged, RefundedCents: wantRefunded, Charges: wantCharges, Refunds: wantRefunds}
	if l != want {
		t.Fatalf("ledger = %+v, want %+v", l, want)
	}
}

func TestDoDispatchesEveryOp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("o1", item("poster", 1))
	for _, op := range shop.Ops {
		res, err := e.do(op, in)
		if err != nil {
			t.Fatalf("Do(%s): %v", op, err)
		}
		if res.Op != string(op) || res.OrderID != "o1" {
			t.Fatalf("Do(%s) = %+v", op, res)
		}
	}
	if _, err := e.do("explode", in); err == nil || !strings.Contains(err.Error(), "unknown operation") {
		t.Fatalf("Do(explode) = %v, want unknown operation", err)
	}
	if got := e.stockOf("poster"); got != 10 {
		t.Fatalf("poster after reserve and release = %d", got)
	}
}

func TestFailureTypes(t *testing.T) {
	want := map[shop.Op]string{
		shop.OpReserve:  "InventoryRejected",
		shop.OpCheck:    "FraudSuspected",
		shop.OpCharge:   "PaymentDeclined",
		shop.OpSchedule: "ShipmentFailed",
		shop.OpRelease:  "ReleaseFailed",
		shop.OpRefund:   "RefundFailed",
		shop.OpCancel:   "CancelFailed",
	}
	seen := map[string]bool{}
	for op, typ := range want {
		if got := activities.FailureType(op); got != typ {
			t.Errorf("FailureType(%s) = %q, want %q", op, got, typ)
		}
		seen[typ] = true
	}
	if got := activities.FailureType("explode"); seen[got] {
		t.Errorf("FailureType(explode) = %q, a real type", got)
	}
	if len(activities.RefusalTypes) != len(want) {
		t.Errorf("RefusalTypes = %v", activities.RefusalTypes)
	}
	for _, typ := range activities.RefusalTypes {
		if !seen[typ] {
			t.Errorf("RefusalTypes has %q, which no operation fails with", typ)
		}
	}
	if _, ok := activities.IsRefusal(errors.New("plain")); ok {
		t.Error("IsRefusal(plain error) = true")
	}
	if _, ok := activities.IsRefusal(nil); ok {
		t.Error("IsRefusal(nil) = true")
	}
	if activities.IsTransient(errors.New("plain")) || activities.IsTransient(nil) {
		t.Error("IsTransient of a plain error or nil = true")
	}
}

func TestOrderInputJSON(t *testing.T) {
	o := shop.Order{
		ID:     "o1",
		Items:  []shop.Item{item("book", 2)},
		Faults: shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultTransient, Attempts: 2}},
	}
	in := activities.InputFor(o)
	if in.OrderID != o.ID || !reflect.DeepEqual(in.Items, o.Items) || !reflect.DeepEqual(in.Faults, o.Faults) {
		t.Fatalf("InputFor = %+v", in)
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var back activities.OrderInput
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, in) {
		t.Fatalf("round trip = %+v, want %+v", back, in)
	}
}

// A repair runs a refused compensation again, and only that: a refusal of a
// forward step, or a compensation that succeeded, stays as recorded.
func TestRepairRunsARefusedCompensationAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("o1", item("book", 1))
	e.mustDo(shop.OpCharge, in)
	declined := in
	declined.Faults = plan(t, "refund:decline")
	_, err := e.do(shop.OpRefund, declined)
	wantBusiness(t, err, activities.ErrTypeRefundFailed)
	_, err = e.do(shop.OpRefund, in)
	wantBusiness(t, err, activities.ErrTypeRefundFailed) // recorded: the fault is not needed any more

	repair := in
	repair.Repair = true
	if res := e.mustDo(shop.OpRefund, repair); res.Duplicate || res.Detail != "4200" {
		t.Fatalf("repaired refund = %+v, want a new run refunding 4200", res)
	}
	if res := e.mustDo(shop.OpRefund, repair); !res.Duplicate {
		t.Fatalf("second repair = %+v, want the recorded success", res)
	}
	if l := e.ledger(); l.Refunds != 1 || l.RefundedCents != 4200 {
		t.Fatalf("ledger = %+v, want one refund", l)
	}

	rejected := input("o2", item("poster", 11))
	rejected.Repair = true
	for range 2 {
		_, err := e.do(shop.OpReserve, rejected)
		wantBusiness(t, err, activities.ErrTypeInventoryRejected)
	}
	if got := e.stockOf("poster"); got != 10 {
		t.Fatalf("poster = %d: a repair reran a forward step", got)
	}
}
