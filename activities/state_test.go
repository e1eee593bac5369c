package activities_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

func TestReadOrderState(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := input("o1", item("poster", 3), item("book", 2))
	in.Faults = plan(t, "inventory:transient:1", "shipping")
	_, err := e.do(shop.OpReserve, in)
	wantTransient(t, err)
	e.mustDo(shop.OpReserve, in)
	e.mustDo(shop.OpCharge, in)
	_, err = e.do(shop.OpSchedule, in)
	wantBusiness(t, err, activities.ErrTypeShipmentFailed)

	st, err := activities.ReadOrderState(t.Context(), e.rdb, e.prefix, "o1")
	if err != nil {
		t.Fatal(err)
	}
	want := activities.OrderState{
		Ops: map[shop.Op]activities.OpState{
			shop.OpReserve:  {Status: "ok", Attempts: 2},
			shop.OpCharge:   {Status: "ok", Detail: "15900"},
			shop.OpSchedule: {Status: "fail", Detail: "declined by fault plan"},
		},
		Reserved:     map[string]int64{"poster": 3, "book": 2},
		ChargedCents: 15900,
	}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("state = %+v\nwant    %+v", st, want)
	}
	if !st.Done(shop.OpReserve) || !st.Done(shop.OpCharge) || st.Done(shop.OpSchedule) || st.Done(shop.OpRelease) {
		t.Fatalf("Done disagrees with %+v", st.Ops)
	}

	e.mustDo(shop.OpRelease, in)
	e.mustDo(shop.OpRefund, in)
	st, err = activities.ReadOrderState(t.Context(), e.rdb, e.prefix, "o1")
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Ops[shop.OpRelease]; got != (activities.OpState{Status: "ok", Detail: "released"}) {
		t.Fatalf("release state = %+v", got)
	}
	if got := st.Ops[shop.OpRefund]; got != (activities.OpState{Status: "ok", Detail: "15900"}) {
		t.Fatalf("refund state = %+v", got)
	}

	none, err := activities.ReadOrderState(t.Context(), e.rdb, e.prefix, "never")
	if err != nil {
		t.Fatal(err)
	}
	if len(none.Ops) != 0 || len(none.Reserved) != 0 || none.ChargedCents != 0 || none.Done(shop.OpReserve) {
		t.Fatalf("state of an unknown order = %+v", none)
	}
}

func TestOutboxPrepare(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	b := newInbox(e)

	id := b.deliver()
	in := input("o1", item("book", 1))
	in.Faults = plan(t, "payment:delay:60ms")
	in.Outbox = newOutbox(id, "PaymentCharged", "PaymentDeclined")
	start := time.Now()
	calls := 0
	in.Outbox.Prepare = func(ob *activities.Outbox) error {
		calls++
		if since := time.Since(start); since < 60*time.Millisecond {
			t.Errorf("Prepare ran %v after the call, before the 60ms delay ended", since)
		}
		ob.OnSuccess.JSON = []byte(`{"prepared":true,"detail":"@DETAIL@"}`)
		return nil
	}
	res := e.mustDo(shop.OpCharge, in)
	if calls != 1 {
		t.Fatalf("Prepare ran %d times, want 1", calls)
	}
	out := e.entries(okStream)
	if len(out) != 1 || out[0].ID != res.Emitted || out[0].Values["event"] != `{"prepared":true,"detail":"4200"}` {
		t.Fatalf("published %+v, want the prepared event", out)
	}

	id = b.deliver()
	boom := errors.New("boom")
	bad := input("o2", item("book", 1))
	bad.Outbox = newOutbox(id, "PaymentCharged", "PaymentDeclined")
	bad.Outbox.Prepare = func(*activities.Outbox) error { return boom }
	_, err := e.do(shop.OpCharge, bad)
	if !errors.Is(err, boom) {
		t.Fatalf("charge with a failing Prepare = %v, want it to wrap the Prepare error", err)
	}
	if _, ok := activities.IsBusiness(err); ok || activities.IsTransient(err) {
		t.Fatalf("a Prepare error %v is classified as a business or transient fault", err)
	}
	if len(e.entries(okStream)) != 1 || len(e.entries(failStream)) != 0 || len(e.history()) != 1 {
		t.Fatal("a failing Prepare published an event")
	}
	if !b.isPending(id) {
		t.Fatalf("a failing Prepare acked %s", id)
	}
	if l := e.ledger(); l.Charges != 1 {
		t.Fatalf("a failing Prepare charged: %+v", l)
	}
	if st, _ := activities.ReadOrderState(t.Context(), e.rdb, e.prefix, "o2"); len(st.Ops) != 0 {
		t.Fatalf("a failing Prepare recorded %+v", st.Ops)
	}
}

func TestResetClearsOnlyItsPrefix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()
	other := activities.New(e.rdb, "other:", e.cat)
	if err := activities.Seed(ctx, e.rdb, "other:", e.cat); err != nil {
		t.Fatal(err)
	}
	b := newInbox(e)
	for _, p := range []activities.Participants{e.p, other} {
		for _, op := range []shop.Op{shop.OpReserve, shop.OpCharge, shop.OpSchedule} {
			if _, err := p.Do(ctx, op, input("o1", item("poster", 4))); err != nil {
				t.Fatal(err)
			}
		}
	}
	in := input("o2")
	in.Outbox = newOutbox(b.deliver(), "PaymentCharged", "PaymentDeclined")
	in.Outbox.OnSuccess.Stream = e.prefix + "stream:payment"
	e.mustDo(shop.OpCharge, in)

	before := time.Now().Add(-time.Second)
	deleted, err := activities.Reset(ctx, e.rdb, e.prefix, e.cat)
	if err != nil {
		t.Fatal(err)
	}
	// stock of 5 SKUs, 3 order hashes of o1, pay hash of o2, ledger, shipments, one stream.
	if deleted != 5+3+1+1+1+1 {
		t.Fatalf("Reset deleted %d keys", deleted)
	}
	if got := e.stockOf("poster"); got != 10 {
		t.Fatalf("poster after reset = %d, want 10", got)
	}
	if l := e.ledger(); l != (activities.Ledger{}) {
		t.Fatalf("ledger after reset = %+v", l)
	}
	if st, _ := activities.ReadOrderState(ctx, e.rdb, e.prefix, "o1"); len(st.Ops) != 0 {
		t.Fatalf("o1 state after reset = %+v", st)
	}
	if res := e.mustDo(shop.OpReserve, input("o1", item("poster", 4))); res.Duplicate {
		t.Fatal("reserve after reset is a duplicate")
	}
	at, err := activities.Epoch(ctx, e.rdb, e.prefix)
	if err != nil || at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Fatalf("Epoch = %v, %v; want about now", at, err)
	}

	otherStock, _ := activities.Stock(ctx, e.rdb, "other:", e.cat)
	if otherStock["poster"] != 6 {
		t.Fatalf("other prefix poster = %d, want 6: Reset touched it", otherStock["poster"])
	}
	if l, _ := activities.ReadLedger(ctx, e.rdb, "other:"); l.Charges != 1 {
		t.Fatalf("other prefix ledger = %+v: Reset touched it", l)
	}
	if n := e.rdb.Exists(ctx, inStream, historyKey).Val(); n != 2 {
		t.Fatalf("Reset deleted keys outside its prefix (%d of 2 left)", n)
	}
	if at, err := activities.Epoch(ctx, e.rdb, "other:"); err != nil || !at.IsZero() {
		t.Fatalf("Epoch of a never-reset prefix = %v, %v; want zero", at, err)
	}
	if err := e.rdb.Set(ctx, activities.EpochKey("bad:"), "yesterday", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := activities.Epoch(ctx, e.rdb, "bad:"); err == nil {
		t.Fatal("Epoch of a malformed value = nil error")
	}
}
