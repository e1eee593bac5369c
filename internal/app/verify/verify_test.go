package verify_test

import (
	"context"
	"encoding/json"
	"slices"
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
		{"past the fraud check", []shop.Event{ev(shop.OpReserve, "ok"), ev(shop.OpCheck, "ok"), ev(shop.OpCharge, "ok"), ev(shop.OpSchedule, "fail"), ev(shop.OpRefund, "ok"), ev(shop.OpRelease, "ok")}, true},
		{"refused by the fraud check", []shop.Event{ev(shop.OpReserve, "ok"), ev(shop.OpCheck, "fail"), ev(shop.OpRelease, "ok")}, true},
		{"forward order past the check", []shop.Event{ev(shop.OpReserve, "ok"), ev(shop.OpCheck, "ok"), ev(shop.OpCharge, "ok"), ev(shop.OpRelease, "ok"), ev(shop.OpRefund, "ok")}, false},
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

// TestCheckAcceptsBothPlans: orders of the saga with the fraud check and
// orders of the plan before it pass alike; a step with no compensation is
// never expected undone.
func TestCheckAcceptsBothPlans(t *testing.T) {
	f := newFraudFixture(t)
	f.run("new", "COMPLETED", nil, shop.OpReserve, shop.OpCheck, shop.OpCharge, shop.OpSchedule)
	f.run("old", "COMPLETED", nil, shop.OpReserve, shop.OpCharge, shop.OpSchedule)
	f.run("declined", "COMPENSATED", nil, shop.OpReserve, shop.OpCheck, shop.OpRelease)
	f.run("old-declined", "COMPENSATED", nil, shop.OpReserve, shop.OpRelease)
	f.run("refused", "COMPENSATED", refuse, shop.OpReserve, shop.OpCheck, shop.OpRelease)
	f.run("refused-at-shipping", "COMPENSATED", nil, shop.OpReserve, shop.OpCheck, shop.OpCharge, shop.OpRefund, shop.OpRelease)
	f.src.orders = []shop.Record{
		f.record("new", shop.StatusCompleted, shop.Steps, nil, ""),
		f.record("old", shop.StatusCompleted, shop.StepsBeforeFraud, nil, ""),
		f.record("declined", shop.StatusCompensated, []shop.Step{shop.StepInventory, shop.StepFraud}, []shop.Step{shop.StepInventory}, shop.StepPayment),
		f.record("old-declined", shop.StatusCompensated, []shop.Step{shop.StepInventory}, []shop.Step{shop.StepInventory}, shop.StepPayment),
		f.record("refused", shop.StatusCompensated, []shop.Step{shop.StepInventory}, []shop.Step{shop.StepInventory}, shop.StepFraud),
		f.record("refused-at-shipping", shop.StatusCompensated, shop.Steps[:3], []shop.Step{shop.StepPayment, shop.StepInventory}, shop.StepShipping),
	}
	if rep := f.check(); !rep.OK() || rep.Orders != 6 {
		t.Fatalf("both plans: %+v", rep)
	}
	// A step with no compensation listed as compensated.
	f.src.orders[4].Outcome.Compensated = []shop.Step{shop.StepFraud, shop.StepInventory}
	f.expect("fraud compensated", "refused", "outcome lists fraud compensated, but fraud has no compensation")
	f.src.orders[4].Outcome.Compensated = []shop.Step{shop.StepInventory}
	// Steps in an order no plan has, or a failed step that is not the next one.
	f.src.orders[0].Outcome.Steps = []shop.Step{shop.StepInventory, shop.StepPayment, shop.StepFraud, shop.StepShipping}
	f.expect("payment before fraud", "new", "follow no plan of the saga")
	f.src.orders[0].Outcome.Steps = shop.Steps
	f.src.orders[3].Outcome.FailedStep = shop.StepFraud
	f.src.orders[3].Outcome.Steps = []shop.Step{}
	f.src.orders[3].Outcome.Compensated = []shop.Step{}
	f.expect("fraud refused before the reservation", "old-declined", "follow no plan of the saga")
}

// TestCheckFraudRefusals: an order the fraud check refused holds no
// charge, no shipment and no stock; an order that lists the fraud check
// among its steps passed it, and a COMPLETED order that passed it lists it.
func TestCheckFraudRefusals(t *testing.T) {
	var f *fraudFixture // each case's, on a Redis of its own
	inv := []shop.Step{shop.StepInventory}
	cases := []struct {
		name   string
		faults shop.FaultPlan
		ops    []shop.Op
		rec    func(id string) shop.Record
		want   []string
	}{
		{"charged after a refusal", refuse, []shop.Op{shop.OpReserve, shop.OpCheck, shop.OpCharge, shop.OpRefund, shop.OpRelease},
			func(id string) shop.Record { return f.record(id, shop.StatusCompensated, inv, inv, shop.StepFraud) },
			[]string{"refused by the fraud check, but its charge ran"}},
		{"holds its stock", refuse, []shop.Op{shop.OpReserve, shop.OpCheck},
			func(id string) shop.Record { return f.record(id, shop.StatusCompensated, inv, inv, shop.StepFraud) },
			[]string{"outcome lists inventory compensated, but release did not succeed", "COMPENSATED but still holds its reservation"}},
		{"failed at fraud, charged anyway", nil, []shop.Op{shop.OpReserve, shop.OpCharge, shop.OpRefund, shop.OpRelease},
			func(id string) shop.Record { return f.record(id, shop.StatusCompensated, inv, inv, shop.StepFraud) },
			[]string{"refused by the fraud check, but its charge ran"}},
		{"checked, listed as the plan before the check", nil, []shop.Op{shop.OpReserve, shop.OpCheck, shop.OpCharge, shop.OpSchedule},
			func(id string) shop.Record { return f.record(id, shop.StatusCompleted, shop.StepsBeforeFraud, nil, "") },
			[]string{"passed the fraud check, but its outcome lists steps [inventory payment shipping]"}},
		{"completed past a refusal", refuse, []shop.Op{shop.OpReserve, shop.OpCheck, shop.OpCharge, shop.OpSchedule},
			func(id string) shop.Record { return f.record(id, shop.StatusCompleted, shop.Steps, nil, "") },
			[]string{"outcome lists fraud done, but check did not succeed", "its charge ran", "its schedule ran"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f = newFraudFixture(t)
			rec := c.rec("o1")
			f.run("o1", rec.Status, c.faults, c.ops...)
			f.src.orders = []shop.Record{rec}
			f.expect(c.name, "o1", c.want...)
		})
	}
}

// refuse is the fault plan that makes the fraud check refuse an order.
var refuse = shop.FaultPlan{shop.OpCheck: {Kind: shop.FaultDecline}}

// fraudFixture runs participant operations on real Redis and checks the
// orders a test says they belong to.
type fraudFixture struct {
	t        *testing.T
	ctx      context.Context
	rdb      redis.UniversalClient
	p        activities.Participants
	notifier *activities.Notifier
	src      *fakeSource
}

func newFraudFixture(t *testing.T) *fraudFixture {
	rdb := testenv.StartRedis(t).Client()
	ctx := context.Background()
	if err := activities.Seed(ctx, rdb, "fake:", shop.DefaultCatalog()); err != nil {
		t.Fatal(err)
	}
	p := activities.New(rdb, "fake:", shop.DefaultCatalog())
	return &fraudFixture{t: t, ctx: ctx, rdb: rdb, p: p, notifier: p.Notifier(time.Hour), src: &fakeSource{}}
}

// run runs ops for order id (a refusal is fine: it is recorded), then
// tells its customer it ended with status.
func (f *fraudFixture) run(id string, status shop.Status, faults shop.FaultPlan, ops ...shop.Op) {
	f.t.Helper()
	in := activities.OrderInput{OrderID: id, Customer: "ada", Items: []shop.Item{{SKU: "mug", Quantity: 2}}, Faults: faults}
	for _, op := range ops {
		if _, err := f.p.Do(f.ctx, op, in); err != nil {
			if _, refused := activities.IsRefusal(err); !refused {
				f.t.Fatalf("%s %s: %v", op, id, err)
			}
		}
	}
	if _, err := f.notifier.Notify(f.ctx, activities.NotifyInput{Outcome: shop.Outcome{OrderID: id, Status: status}}); err != nil {
		f.t.Fatal(err)
	}
}

// record is an order of the fixture as an engine would list it.
func (f *fraudFixture) record(id string, status shop.Status, steps, compensated []shop.Step, failed shop.Step) shop.Record {
	return shop.Record{ID: id, Status: status, Outcome: shop.Outcome{OrderID: id, Status: status,
		Steps: slices.Clone(steps), Compensated: slices.Clone(compensated), FailedStep: failed}}
}

func (f *fraudFixture) check() verify.Report {
	f.t.Helper()
	rep, err := verify.Check(f.ctx, f.rdb, f.src, shop.DefaultCatalog(), verify.Options{})
	if err != nil {
		f.t.Fatal(err)
	}
	return rep
}

// expect checks that the violations are exactly one per want, each about
// orderID and saying its want.
func (f *fraudFixture) expect(what, orderID string, wants ...string) {
	f.t.Helper()
	rep := f.check()
	if len(rep.Violations) != len(wants) {
		f.t.Fatalf("%s: want %d violation(s) saying %q, got %v", what, len(wants), wants, rep.Violations)
	}
	for _, want := range wants {
		if !slices.ContainsFunc(rep.Violations, func(v shop.Violation) bool {
			return v.OrderID == orderID && strings.Contains(v.Message, want)
		}) {
			f.t.Errorf("%s: no violation about %s saying %q in %v", what, orderID, want, rep.Violations)
		}
	}
}
