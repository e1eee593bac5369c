package activities_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/platform/keyspace"
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

func TestResetClearsOnlyItsPrefix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()
	other := activities.New(e.rdb, "other:", e.cat)
	if err := activities.Seed(ctx, e.rdb, "other:", e.cat); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.Set(ctx, "elsewhere", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []activities.Participants{e.p, other} {
		for _, op := range []shop.Op{shop.OpReserve, shop.OpCharge, shop.OpSchedule} {
			if _, err := p.Do(ctx, op, input("o1", item("poster", 4))); err != nil {
				t.Fatal(err)
			}
		}
	}
	log := &activities.Outbox{Keys: []string{e.prefix + "log"}, Args: func() ([]any, error) { return []any{"x", "go"}, nil }}
	if _, err := e.p.WithOutbox(testHook).Commit(ctx, shop.OpCharge, input("o2"), log); err != nil {
		t.Fatal(err)
	}

	if _, err := activities.EnsurePartitions(ctx, e.rdb, e.prefix, 5); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.Set(ctx, activities.AlertAfterKey(e.prefix), "5s", 0).Err(); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	deleted, err := activities.Reset(ctx, e.rdb, e.prefix, e.cat)
	if err != nil {
		t.Fatal(err)
	}
	// stock of 5 SKUs and the holds of poster, 3 order hashes of o1, pay
	// hash of o2, the ledgers of their partitions, shipments, the outbox's list.
	l, _ := activities.NewLayout(e.prefix, activities.DefaultPartitionsFor(e.rdb))
	ledgers := int64(2)
	if l.Partition("o1") == l.Partition("o2") {
		ledgers = 1
	}
	if deleted != 5+1+3+1+ledgers+1+1 {
		t.Fatalf("Reset deleted %d keys", deleted)
	}
	if n, err := activities.RecordedPartitions(ctx, e.rdb, e.prefix); err != nil || n != 5 {
		t.Fatalf("partitions after reset: %d, %v; want the recorded 5 kept", n, err)
	}
	if d, err := e.rdb.Get(ctx, activities.AlertAfterKey(e.prefix)).Result(); err != nil || d != "5s" {
		t.Fatalf("alert threshold after reset: %q, %v; want the recorded 5s kept", d, err)
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
	if n := e.rdb.Exists(ctx, "elsewhere").Val(); n != 1 {
		t.Fatal("Reset deleted a key outside its prefix")
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

// TestCountersSumOverPartitions: the ledger and the shipment counters are
// the field-by-field sums of every partition's hash; a counter that is not
// a number is an error naming it.
// TestResetPartitions: ResetPartitions deletes the state of the old layout
// and records the new P, which EnsurePartitions then agrees with; a P out of
// bounds changes nothing.
func TestResetPartitions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()
	if _, err := activities.EnsurePartitions(ctx, e.rdb, e.prefix, 1); err != nil {
		t.Fatal(err)
	}
	e.mustDo(shop.OpReserve, input("o1", item("poster", 4)))
	for _, bad := range []int{0, keyspace.MaxPartitions + 1} {
		if _, err := activities.ResetPartitions(ctx, e.rdb, e.prefix, e.cat, bad); err == nil {
			t.Errorf("P=%d accepted", bad)
		}
	}
	if got := e.stockOf("poster"); got != 6 {
		t.Fatalf("poster after a refused P = %d, want the reservation kept (6)", got)
	}
	deleted, err := activities.ResetPartitions(ctx, e.rdb, e.prefix, e.cat, 3)
	if err != nil || deleted == 0 {
		t.Fatalf("ResetPartitions: %d keys deleted, %v", deleted, err)
	}
	if n, err := activities.RecordedPartitions(ctx, e.rdb, e.prefix); err != nil || n != 3 {
		t.Fatalf("partitions after ResetPartitions: %d, %v; want 3", n, err)
	}
	if _, err := activities.EnsurePartitions(ctx, e.rdb, e.prefix, 3); err != nil {
		t.Fatalf("the new P: %v", err)
	}
	if _, err := activities.EnsurePartitions(ctx, e.rdb, e.prefix, 1); !errors.Is(err, activities.ErrPartitions) {
		t.Fatalf("the old P: %v, want ErrPartitions", err)
	}
	if got := e.stockOf("poster"); got != 10 {
		t.Fatalf("poster after ResetPartitions = %d, want 10", got)
	}
	// Participants built afresh take the new layout.
	if _, err := activities.New(e.rdb, e.prefix, e.cat).Inventory.Reserve(ctx, input("o2", item("poster", 1))); err != nil {
		t.Fatal(err)
	}
	lay, _ := activities.NewLayout(e.prefix, 3)
	if inv, _, _ := lay.OrderKeys("o2"); e.rdb.Exists(ctx, inv).Val() != 1 {
		t.Errorf("no %s after a reservation at P=3", inv)
	}
}

func TestCountersSumOverPartitions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()
	lay, err := activities.EnsurePartitions(ctx, e.rdb, e.prefix, keyspace.DefaultPartitions)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(lay.Partitions)
	for p := range lay.Partitions {
		e.rdb.HSet(ctx, lay.LedgerKey(p), "charged_cents", 100*(p+1), "charges", 1)
		e.rdb.HSet(ctx, lay.ShipmentsKey(p), "scheduled", 2, "cancelled", p%2)
	}
	l, err := activities.ReadLedger(ctx, e.rdb, e.prefix)
	if want := (activities.Ledger{ChargedCents: 100 * n * (n + 1) / 2, Charges: n}); err != nil || l != want {
		t.Errorf("ledger = %+v, %v; want %+v", l, err, want)
	}
	s, err := activities.ReadShipments(ctx, e.rdb, e.prefix)
	if want := (activities.Shipments{Scheduled: 2 * n, Cancelled: n / 2}); err != nil || s != want {
		t.Errorf("shipments = %+v, %v; want %+v", s, err, want)
	}
	e.rdb.HSet(ctx, lay.LedgerKey(1), "refunds", "many")
	if _, err := activities.ReadLedger(ctx, e.rdb, e.prefix); err == nil || !strings.Contains(err.Error(), "refunds") {
		t.Errorf("a counter that is not a number: %v, want an error naming it", err)
	}
}
