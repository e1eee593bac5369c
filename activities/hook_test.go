package activities_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// testHook logs every call of outbox to the list OK[1] as
// "status|detail|new-or-dup|OA[1]" and returns OA[1]; its guard stops the
// script when OA[2] is "stop".
const testHook activities.OutboxHook = `
local function guard()
  if OA[2] == 'stop' then return {'dropped', 'guarded', 'stopped', 0} end
  return nil
end
local function outbox(status, detail, dup)
  redis.call('RPUSH', OK[1], status .. '|' .. detail .. '|' .. (dup and 'dup' or 'new') .. '|' .. OA[1])
  return OA[1]
end
`

const hookLog = "t:hooklog"

func (e *env) hooked() activities.Participants { return e.p.WithOutbox(testHook) }

func tag(v string) *activities.Outbox {
	return &activities.Outbox{Keys: []string{hookLog}, Args: func() ([]any, error) { return []any{v, "go"}, nil }}
}

func (e *env) hookCalls() []string {
	e.t.Helper()
	l, err := e.rdb.LRange(e.t.Context(), hookLog, 0, -1).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func (e *env) wantCalls(want ...string) {
	e.t.Helper()
	got := e.hookCalls()
	if len(got) != len(want) {
		e.t.Fatalf("outbox calls = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			e.t.Fatalf("outbox calls = %q, want %q", got, want)
		}
	}
}

func TestOutboxRunsWithTheOperation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	p := e.hooked()
	in := input("o1", item("poster", 1))
	for _, op := range shop.Ops {
		res, err := p.Commit(t.Context(), op, in, tag(string(op)))
		if err != nil || res.Outbox != string(op) {
			t.Fatalf("%s = %+v, %v; want the hook's result %q", op, res, err, op)
		}
	}
	e.wantCalls("ok||new|reserve", "ok|cleared|new|check", "ok|2500|new|charge", "ok|SHP-o1|new|schedule",
		"ok|released|new|release", "ok|2500|new|refund", "ok|cancelled|new|cancel")
}

func TestOutboxSeesRefusalsAndDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	p := e.hooked()
	ctx := t.Context()
	bad := input("o1", item("poster", 11))
	for range 2 {
		_, err := p.Commit(ctx, shop.OpReserve, bad, tag("r"))
		wantBusiness(t, err, activities.ErrTypeInventoryRejected)
	}
	for _, items := range [][]shop.Item{{item("sofa", 1)}, {item("poster", 0)}} {
		_, err := p.Commit(ctx, shop.OpReserve, input("bad-"+items[0].SKU, items...), tag("i"))
		wantBusiness(t, err, activities.ErrTypeInventoryRejected)
	}
	ok := input("o2", item("book", 1))
	for range 2 {
		if _, err := p.Commit(ctx, shop.OpCharge, ok, tag("c")); err != nil {
			t.Fatal(err)
		}
	}
	e.wantCalls("fail|out of stock: poster has 10, wanted 11|new|r", "fail|out of stock: poster has 10, wanted 11|dup|r",
		"fail|invalid item sofa x1|new|i", "fail|invalid item poster x0|new|i",
		"ok|4200|new|c", "ok|4200|dup|c")
	if l := e.ledger(); l.Charges != 1 {
		t.Fatalf("ledger = %+v, want one charge", l)
	}
}

func TestOutboxSkipsTransientAndCancelled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	p := e.hooked()
	in := input("o1")
	in.Faults = plan(t, "payment:transient:2")
	for range 2 {
		res, err := p.Commit(t.Context(), shop.OpCharge, in, tag("t"))
		wantTransient(t, err)
		if res.Outbox != "" {
			t.Fatalf("a transient fault ran the outbox: %+v", res)
		}
	}
	e.wantCalls()
	slow := input("o2")
	slow.Faults = plan(t, "shipping:delay:1m")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if _, err := p.Commit(ctx, shop.OpSchedule, slow, tag("s")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("schedule = %v, want DeadlineExceeded", err)
	}
	e.wantCalls()
	if _, err := p.Commit(t.Context(), shop.OpCharge, in, tag("t")); err != nil {
		t.Fatal(err)
	}
	e.wantCalls("ok|4200|new|t")
}

// The outbox's arguments are built after any delay, once; an error building
// them changes nothing.
func TestOutboxArgsAfterDelay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	p := e.hooked()
	in := input("o1", item("book", 1))
	in.Faults = plan(t, "payment:delay:60ms")
	start, calls := time.Now(), 0
	ob := &activities.Outbox{Keys: []string{hookLog}, Args: func() ([]any, error) {
		calls++
		if since := time.Since(start); since < 60*time.Millisecond {
			t.Errorf("Args ran %v after the call, before the 60ms delay ended", since)
		}
		return []any{"late", "go"}, nil
	}}
	if _, err := p.Commit(t.Context(), shop.OpCharge, in, ob); err != nil || calls != 1 {
		t.Fatalf("charge = %v with Args run %d times, want once", err, calls)
	}
	boom := errors.New("boom")
	ob.Args = func() ([]any, error) { return nil, boom }
	_, err := p.Commit(t.Context(), shop.OpCharge, input("o2", item("book", 1)), ob)
	if !errors.Is(err, boom) || activities.IsTransient(err) {
		t.Fatalf("charge with failing Args = %v, want it to wrap the error", err)
	}
	if _, refused := activities.IsRefusal(err); refused {
		t.Fatalf("failing Args classified as a refusal: %v", err)
	}
	e.wantCalls("ok|4200|new|late")
	if st, _ := activities.ReadOrderState(t.Context(), e.rdb, e.prefix, "o2"); len(st.Ops) != 0 || e.ledger().Charges != 1 {
		t.Fatalf("failing Args recorded %+v", st.Ops)
	}
}

func TestOutboxGuardStopsTheOperation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	p := e.hooked()
	ob := &activities.Outbox{Keys: []string{hookLog}, Args: func() ([]any, error) { return []any{"x", "stop"}, nil }}
	for _, op := range []shop.Op{shop.OpReserve, shop.OpRelease, shop.OpCharge} {
		res, err := p.Commit(t.Context(), op, input("o1", item("poster", 4), item("book", 1)), ob)
		if err != nil || !res.Dropped || res.Detail != "guarded" || res.Outbox != "stopped" {
			t.Fatalf("%s = %+v, %v; want the guard's reply", op, res, err)
		}
	}
	if e.stockOf("poster") != 10 || e.stockOf("book") != e.cat["book"].InitialStock || e.ledger().Charges != 0 {
		t.Fatalf("a guarded operation changed stock or money: %v, %+v", e.stock(), e.ledger())
	}
	// Nothing is left in the SKUs' records either: a reserve runs afresh.
	if res := e.mustDo(shop.OpReserve, input("o1", item("poster", 4), item("book", 1))); res.Duplicate || e.stockOf("poster") != 6 {
		t.Fatalf("reserve after guarded ones: %+v, poster %d", res, e.stockOf("poster"))
	}
	e.wantCalls()
}

func TestOutboxNeedsAHook(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	if _, err := e.p.Commit(t.Context(), shop.OpCharge, input("o1"), tag("x")); err == nil {
		t.Fatal("Commit with an outbox on participants built without a hook succeeded")
	}
	if e.ledger().Charges != 0 {
		t.Fatal("it charged")
	}
}
