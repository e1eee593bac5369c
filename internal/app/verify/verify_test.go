package verify_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

func ev(op shop.Op, result string) shop.Event { return shop.Event{Op: op, Result: result} }

func TestCompensationOrder(t *testing.T) {
	cases := []struct {
		name string
		evs  []shop.Event
		ok   bool
	}{
		{"none", nil, true},
		{"reverse", []shop.Event{ev(shop.OpReserve, "ok"), ev(shop.OpCharge, "ok"), ev(shop.OpSchedule, "fail"), ev(shop.OpRefund, "ok"), ev(shop.OpRelease, "ok")}, true},
		{"forward order", []shop.Event{ev(shop.OpReserve, "ok"), ev(shop.OpCharge, "ok"), ev(shop.OpRelease, "ok"), ev(shop.OpRefund, "ok")}, false},
		{"undo before do", []shop.Event{ev(shop.OpRelease, "ok"), ev(shop.OpReserve, "ok")}, true}, // a tombstone: release of nothing, then a refused reserve is fine
		{"failed compensation ignored", []shop.Event{ev(shop.OpReserve, "ok"), ev(shop.OpCharge, "ok"), ev(shop.OpRefund, "fail"), ev(shop.OpRelease, "ok")}, true},
	}
	for _, c := range cases {
		err := verify.CompensationOrder(c.evs)
		if (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

// fakeSource reports the orders a test says, over real participant state.
type fakeSource struct {
	shop.Engine
	orders  []shop.Record
	history map[string][]shop.Event
	extra   []shop.Violation
}

func (f *fakeSource) Mode() shop.Mode                                 { return "fake" }
func (f *fakeSource) Prefix() string                                  { return "fake:" }
func (f *fakeSource) Orders(context.Context) ([]shop.Record, error)   { return f.orders, nil }
func (f *fakeSource) Extra(context.Context) ([]shop.Violation, error) { return f.extra, nil }
func (f *fakeSource) Settled(context.Context) (shop.Settled, error)   { return shop.Settled{}, nil }
func (f *fakeSource) History(_ context.Context, id string) ([]shop.Event, error) {
	return f.history[id], nil
}

func TestCheckFindsWhatIsWrong(t *testing.T) {
	rdb := testenv.StartRedis(t).Client()
	ctx := context.Background()
	cat := shop.DefaultCatalog()
	if err := activities.Seed(ctx, rdb, "fake:", cat); err != nil {
		t.Fatal(err)
	}
	p := activities.New(rdb, "fake:", cat)
	in := func(id string) activities.OrderInput {
		return activities.OrderInput{OrderID: id, Items: []shop.Item{{SKU: "mug", Quantity: 2}}}
	}
	// done: completed. undone: reserved and charged, then compensated.
	for _, op := range []shop.Op{shop.OpReserve, shop.OpCharge, shop.OpSchedule} {
		if _, err := p.Do(ctx, op, in("done")); err != nil {
			t.Fatal(err)
		}
	}
	for _, op := range []shop.Op{shop.OpReserve, shop.OpCharge, shop.OpRefund, shop.OpRelease} {
		if _, err := p.Do(ctx, op, in("undone")); err != nil {
			t.Fatal(err)
		}
	}
	all := []shop.Step{shop.StepInventory, shop.StepPayment, shop.StepShipping}
	notifier := p.Notifier(time.Hour)
	for id, st := range map[string]shop.Status{"done": shop.StatusCompleted, "undone": shop.StatusCompensated} {
		if _, err := notifier.Notify(ctx, activities.NotifyInput{Outcome: shop.Outcome{OrderID: id, Status: st}}); err != nil {
			t.Fatal(err)
		}
	}
	src := &fakeSource{
		orders: []shop.Record{
			{ID: "done", Status: shop.StatusCompleted, Outcome: shop.Outcome{Status: shop.StatusCompleted, Steps: all}},
			{ID: "undone", Status: shop.StatusCompensated, Outcome: shop.Outcome{Status: shop.StatusCompensated,
				Steps: all[:2], Compensated: []shop.Step{shop.StepPayment, shop.StepInventory}, FailedStep: shop.StepShipping}},
		},
		history: map[string][]shop.Event{"undone": {ev(shop.OpReserve, "ok"), ev(shop.OpCharge, "ok"), ev(shop.OpRefund, "ok"), ev(shop.OpRelease, "ok")}},
	}
	check := func() verify.Report {
		t.Helper()
		rep, err := verify.Check(ctx, rdb, src, cat, verify.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := check(); !rep.OK() || rep.Orders != 2 || rep.Histories != 1 {
		t.Fatalf("clean state: %+v", rep)
	}

	// expect checks that exactly one violation is reported, of kind, about
	// orderID, for this engine, saying want.
	expect := func(what string, kind shop.ViolationKind, orderID, want string) {
		t.Helper()
		rep := check()
		if len(rep.Violations) != 1 {
			t.Fatalf("%s: want one violation, got %v", what, rep.Violations)
		}
		v := rep.Violations[0]
		if v.Kind != kind || v.OrderID != orderID || v.Engine != "fake" || !strings.Contains(v.Message, want) {
			t.Fatalf("%s: got %+v, want kind %s about order %q on fake saying %q", what, v, kind, orderID, want)
		}
	}
	// Stock that moved outside any order.
	lay, _ := activities.NewLayout("fake:", activities.DefaultPartitionsFor(rdb))
	rdb.DecrBy(ctx, lay.StockKey("mug"), 1)
	expect("stolen stock", shop.ViolationStock, "", "stock of mug")
	rdb.IncrBy(ctx, lay.StockKey("mug"), 1)
	// Money that moved outside any order.
	rdb.HIncrBy(ctx, lay.LedgerKey(0), "charged_cents", 5)
	expect("ledger drift", shop.ViolationMoney, "", "ledger")
	rdb.HIncrBy(ctx, lay.LedgerKey(0), "charged_cents", -5)
	// An order that never finished, old and young.
	src.orders = append(src.orders, shop.Record{ID: "late", Status: shop.StatusPending, Placed: time.Now().Add(-time.Hour)})
	expect("stuck order", shop.ViolationStuck, "late", "order late is stuck")
	src.orders[2].Placed = time.Now()
	expect("order in flight", shop.ViolationInFlight, "late", "not terminal yet")
	src.orders = src.orders[:2]
	// An outcome that claims more than happened.
	src.orders[1].Outcome.Compensated = []shop.Step{shop.StepShipping}
	expect("false compensation", shop.ViolationOutcome, "undone", "cancel did not succeed")
	src.orders[1].Outcome.Compensated = []shop.Step{shop.StepPayment, shop.StepInventory}
	// Compensations in the wrong order.
	src.history["undone"] = []shop.Event{ev(shop.OpReserve, "ok"), ev(shop.OpCharge, "ok"), ev(shop.OpRelease, "ok"), ev(shop.OpRefund, "ok")}
	expect("wrong order", shop.ViolationCompensationOrder, "undone", "not in reverse saga order")
	src.history["undone"] = []shop.Event{ev(shop.OpReserve, "ok"), ev(shop.OpCharge, "ok"), ev(shop.OpRefund, "ok"), ev(shop.OpRelease, "ok")}
	// A charge that is not the price of the order as placed.
	src.orders[0].Items = []shop.Item{{SKU: "mug", Quantity: 3}}
	expect("wrong amount", shop.ViolationMoney, "done", "charged 2500 cents, but its price as placed is 3750")
	src.orders[0].Items = in("done").Items
	if rep := check(); !rep.OK() {
		t.Fatalf("the right amount: %v", rep.Violations)
	}
	// A customer told twice, told the wrong outcome, or not told.
	stream := lay.NotificationsKey(0)
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"order_id", "done", "status", "COMPLETED"}})
	expect("told twice", shop.ViolationNotification, "done", "order done was notified 2 times")
	last, _ := rdb.XRevRangeN(ctx, stream, "+", "-", 1).Result()
	rdb.XDel(ctx, stream, last[0].ID)
	if _, err := notifier.Notify(ctx, activities.NotifyInput{Outcome: shop.Outcome{OrderID: "mixed", Status: shop.StatusCompleted}}); err != nil {
		t.Fatal(err)
	}
	src.orders = append(src.orders, shop.Record{ID: "mixed", Status: shop.StatusCompensated, Outcome: shop.Outcome{Status: shop.StatusCompensated}})
	expect("told another outcome", shop.ViolationNotification, "mixed", "order mixed is COMPENSATED but its customer was told COMPLETED")
	src.orders = src.orders[:2]
	if _, err := notifier.Notify(ctx, activities.NotifyInput{Outcome: shop.Outcome{OrderID: "quiet", Status: shop.StatusCompleted},
		Faults: shop.FaultPlan{shop.OpNotify: {Kind: shop.FaultDecline}}}); err == nil {
		t.Fatal("a notify refused by the fault plan succeeded")
	}
	src.orders = append(src.orders, shop.Record{ID: "quiet", Status: shop.StatusCompensated, Outcome: shop.Outcome{Status: shop.StatusCompensated}},
		shop.Record{ID: "untold", Status: shop.StatusCompensated, Outcome: shop.Outcome{Status: shop.StatusCompensated}})
	expect("not told", shop.ViolationNotification, "untold", "order untold is COMPENSATED but its customer was not notified")
	src.orders = src.orders[:2]
	// What the engine adds is stamped with the engine.
	src.extra = []shop.Violation{shop.Violationf(shop.ViolationUnread, "", "group payment has 2 unread entries")}
	expect("engine's own check", shop.ViolationUnread, "", "2 unread")
}

func TestSummarize(t *testing.T) {
	stuck := shop.Violationf(shop.ViolationStuck, "o-1", "order o-1 is stuck")
	money := shop.Violationf(shop.ViolationMoney, "", "money is not conserved")
	reports := []verify.Report{
		{Mode: shop.ModeOrchestration, Violations: []shop.Violation{stuck}},
		{Mode: shop.ModeChoreography},
		{Mode: shop.ModeChoreography, Violations: []shop.Violation{money}},
	}
	s := verify.Summarize(reports)
	if s.OK || len(s.Results) != 3 || len(s.Violations) != 2 || s.Violations[0] != stuck || s.Violations[1] != money {
		t.Errorf("Summarize = %+v, want not OK with both violations in order", s)
	}
	s = verify.Summarize(reports[1:2])
	if !s.OK || len(s.Results) != 1 {
		t.Errorf("Summarize of a clean report = %+v, want OK", s)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"ok":true,"results":[{"mode":"choreography"`) || !strings.HasSuffix(string(b), `,"violations":[]}`) {
		t.Errorf("JSON = %s, want ok, results, then an empty list of violations", b)
	}
}
