// Package scenarios is the one scenario table both engines must pass: the
// same orders with the same faults give the same outcome whichever style
// coordinates the saga, and stock and money are conserved afterwards.
package scenarios

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/shop"
)

// Scenario is one order with its faults and the outcome it must reach.
type Scenario struct {
	Name            string
	Items           []shop.Item
	Faults          []string // fault specs as given to --fail
	Status          shop.Status
	Steps           []shop.Step // forward steps that succeeded
	Compensated     []shop.Step // in the order they were undone
	FailedStep      shop.Step
	ReasonSubstring string
	// Like names the scenario this one must end exactly as, reason
	// included: the same order with a notify fault added, which must
	// change neither the outcome nor the compensations.
	Like string
	// Guest places the order without a customer name (the fraud check's
	// guest limit applies).
	Guest bool
}

// The scenarios expect the saga's steps since the fraud check: orders
// placed now run it in both engines.
var (
	inv, fraud, pay, ship = shop.StepInventory, shop.StepFraud, shop.StepPayment, shop.StepShipping
	all                   = shop.Steps
	none                  = []shop.Step{}
	// checked are the steps done when the payment fails; charged when
	// the shipping does.
	checked = []shop.Step{inv, fraud}
	charged = []shop.Step{inv, fraud, pay}
)

// Table returns every scenario.
func Table() []Scenario {
	return []Scenario{
		{Name: "happy", Status: shop.StatusCompleted, Steps: all, Compensated: none},
		{Name: "inventory-decline", Faults: []string{"inventory:decline"}, Status: shop.StatusCompensated, Steps: none, Compensated: none, FailedStep: inv},
		{Name: "fraud", Faults: []string{"fraud"}, Status: shop.StatusCompensated, Steps: []shop.Step{inv}, Compensated: []shop.Step{inv}, FailedStep: fraud, ReasonSubstring: "FraudSuspected"},
		{Name: "fraud-rule", Items: []shop.Item{{SKU: "book", Quantity: 48}}, Status: shop.StatusCompensated, Steps: []shop.Step{inv}, Compensated: []shop.Step{inv}, FailedStep: fraud, ReasonSubstring: "above the limit"},
		{Name: "fraud-guest", Guest: true, Items: []shop.Item{{SKU: "book", Quantity: 12}}, Status: shop.StatusCompensated, Steps: []shop.Step{inv}, Compensated: []shop.Step{inv}, FailedStep: fraud, ReasonSubstring: "above the guest limit"},
		{Name: "guest", Guest: true, Status: shop.StatusCompleted, Steps: all, Compensated: none},
		{Name: "payment-decline", Faults: []string{"payment:decline"}, Status: shop.StatusCompensated, Steps: checked, Compensated: []shop.Step{inv}, FailedStep: pay},
		{Name: "shipping-decline", Faults: []string{"shipping:decline"}, Status: shop.StatusCompensated, Steps: charged, Compensated: []shop.Step{pay, inv}, FailedStep: ship},
		{Name: "inventory-transient", Faults: []string{"inventory:transient:2"}, Status: shop.StatusCompleted, Steps: all, Compensated: none},
		{Name: "fraud-transient", Faults: []string{"fraud:transient:2"}, Status: shop.StatusCompleted, Steps: all, Compensated: none},
		{Name: "payment-transient", Faults: []string{"payment:transient:2"}, Status: shop.StatusCompleted, Steps: all, Compensated: none},
		{Name: "shipping-transient", Faults: []string{"shipping:transient:2"}, Status: shop.StatusCompleted, Steps: all, Compensated: none},
		{Name: "payment-delay", Faults: []string{"payment:delay:50ms"}, Status: shop.StatusCompleted, Steps: all, Compensated: none},
		{Name: "out-of-stock", Items: []shop.Item{{SKU: "poster", Quantity: 11}}, Status: shop.StatusCompensated, Steps: none, Compensated: none, FailedStep: inv, ReasonSubstring: "out of stock"},
		{Name: "release-transient", Faults: []string{"payment:decline", "release:transient:2"}, Status: shop.StatusCompensated, Steps: checked, Compensated: []shop.Step{inv}, FailedStep: pay},
		{Name: "fraud-release-decline", Faults: []string{"fraud", "release:decline"}, Status: shop.StatusFailed, Steps: []shop.Step{inv}, Compensated: none, FailedStep: fraud},
		{Name: "refund-decline", Faults: []string{"shipping:decline", "refund:decline"}, Status: shop.StatusFailed, Steps: charged, Compensated: []shop.Step{inv}, FailedStep: ship},
		{Name: "release-decline", Faults: []string{"payment:decline", "release:decline"}, Status: shop.StatusFailed, Steps: checked, Compensated: none, FailedStep: pay},
		{Name: "notify-decline", Faults: []string{"notify"}, Status: shop.StatusCompleted, Steps: all, Compensated: none, Like: "happy"},
		{Name: "notify-decline-compensated", Faults: []string{"shipping:decline", "notify:decline"}, Status: shop.StatusCompensated, Steps: charged, Compensated: []shop.Step{pay, inv}, FailedStep: ship, Like: "shipping-decline"},
		{Name: "notify-decline-fraud", Faults: []string{"fraud", "notify:decline"}, Status: shop.StatusCompensated, Steps: []shop.Step{inv}, Compensated: []shop.Step{inv}, FailedStep: fraud, Like: "fraud"},
		{Name: "notify-decline-failed", Faults: []string{"shipping:decline", "refund:decline", "notify"}, Status: shop.StatusFailed, Steps: charged, Compensated: []shop.Step{inv}, FailedStep: ship, Like: "refund-decline"},
		{Name: "notify-transient", Faults: []string{"notify:transient:2"}, Status: shop.StatusCompleted, Steps: all, Compensated: none, Like: "happy"},
	}
}

// Order builds the scenario's order with the given ID.
func (s Scenario) Order(id string) shop.Order {
	items := s.Items
	if items == nil {
		items = []shop.Item{{SKU: "book", Quantity: 1}, {SKU: "mug", Quantity: 2}}
	}
	plan, err := shop.ParseFaultPlan(s.Faults)
	if err != nil {
		panic(fmt.Sprintf("scenario %s: %v", s.Name, err))
	}
	customer := "scenario"
	if s.Guest {
		customer = ""
	}
	return shop.Order{ID: id, Customer: customer, Items: items, Faults: plan}
}

// Check compares an outcome with the scenario's expectation.
func (s Scenario) Check(out shop.Outcome) error {
	var problems []string
	if out.Status != s.Status {
		problems = append(problems, fmt.Sprintf("status %s, want %s", out.Status, s.Status))
	}
	if !slices.Equal(out.Steps, s.Steps) {
		problems = append(problems, fmt.Sprintf("steps %v, want %v", out.Steps, s.Steps))
	}
	if !slices.Equal(out.Compensated, s.Compensated) {
		problems = append(problems, fmt.Sprintf("compensated %v, want %v", out.Compensated, s.Compensated))
	}
	if out.FailedStep != s.FailedStep {
		problems = append(problems, fmt.Sprintf("failed step %q, want %q", out.FailedStep, s.FailedStep))
	}
	if s.Status != shop.StatusCompleted && out.Reason == "" {
		problems = append(problems, "no reason given")
	}
	if s.ReasonSubstring != "" && !strings.Contains(out.Reason, s.ReasonSubstring) {
		problems = append(problems, fmt.Sprintf("reason %q does not mention %q", out.Reason, s.ReasonSubstring))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(problems, "; "))
}

// Run places every scenario at once on the engine, checks each outcome, and
// checks that stock and money moved exactly by the completed orders.
// It returns the outcomes by scenario name.
func Run(t *testing.T, eng shop.Engine, rdb redis.UniversalClient, prefix string) map[string]shop.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cat := shop.DefaultCatalog()
	if err := activities.Seed(ctx, rdb, prefix, cat); err != nil {
		t.Fatal(err)
	}
	before, err := readBooks(ctx, rdb, prefix, cat)
	if err != nil {
		t.Fatal(err)
	}
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	table := Table()
	orders := make(map[string]shop.Order, len(table))
	for _, sc := range table {
		orders[sc.Name] = sc.Order(sc.Name + "-" + run)
	}
	outcomes := placeAll(ctx, t, eng, table, orders)
	want := before
	for _, sc := range table {
		out, ok := outcomes[sc.Name]
		if !ok {
			continue
		}
		if err := sc.Check(out); err != nil {
			t.Errorf("%s (%s): %v", sc.Name, eng.Mode(), err)
		}
		if like, ok := outcomes[sc.Like]; ok && out.Reason != like.Reason {
			t.Errorf("%s (%s): reason %q, but %s without the notify fault ended with %q", sc.Name, eng.Mode(), out.Reason, sc.Like, like.Reason)
		}
		st, err := activities.ReadOrderState(ctx, rdb, prefix, orders[sc.Name].ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckCompensations(out, st); err != nil {
			t.Errorf("%s (%s): %v", sc.Name, eng.Mode(), err)
		}
		want.take(out.Status, orders[sc.Name], st, cat)
	}
	if t.Failed() {
		return outcomes
	}
	if err := waitNotified(ctx, rdb, prefix, notices(table, orders, outcomes)); err != nil {
		t.Errorf("%s: %v", eng.Mode(), err)
	}
	after, err := readBooks(ctx, rdb, prefix, cat)
	if err != nil {
		t.Fatal(err)
	}
	checkBooks(t, eng.Mode(), before, want, after)
	return outcomes
}

// checkBooks compares the stock and the money after the scenarios with
// what their outcomes say they should be.
func checkBooks(t *testing.T, mode shop.Mode, before, want, after books) {
	t.Helper()
	for sku, n := range want.stock {
		if after.stock[sku] != n {
			t.Errorf("%s: stock of %s is %d, want %d", mode, sku, after.stock[sku], n)
		}
	}
	if after.net != want.net {
		t.Errorf("%s: charged minus refunded moved by %d cents, want %d", mode, after.net-before.net, want.net-before.net)
	}
}

// notice is the notification a scenario's order must end with: one of
// its outcome's status, or none when its notify is refused.
type notice struct {
	scenario, orderID string
	status            shop.Status
	refused           bool
}

// notices lists the notification each scenario's order must end with.
func notices(table []Scenario, orders map[string]shop.Order, outcomes map[string]shop.Outcome) []notice {
	out := make([]notice, len(table))
	for i, sc := range table {
		o := orders[sc.Name]
		f, planned := o.Faults.For(shop.OpNotify)
		out[i] = notice{scenario: sc.Name, orderID: o.ID, status: outcomes[sc.Name].Status, refused: planned && f.Kind == shop.FaultDecline}
	}
	return out
}

// waitNotified waits until every order has the notification it must end
// with (a subscriber may tell the customer after the order ended:
// choreography's notify service does).
func waitNotified(ctx context.Context, rdb redis.UniversalClient, prefix string, want []notice) error {
	var last error
	err := poll.For(ctx, 30*time.Second, poll.Every(50*time.Millisecond), func(ctx context.Context) (bool, error) {
		last = notified(ctx, rdb, prefix, want)
		return last == nil, nil
	})
	if err != nil && last != nil {
		return last
	}
	return err
}

// notified says how the notifications differ from want (nil when they do not).
func notified(ctx context.Context, rdb redis.UniversalClient, prefix string, want []notice) error {
	sent, err := activities.Notifications(ctx, rdb, prefix, 0)
	if err != nil {
		return err
	}
	byOrder := map[string][]shop.Status{}
	for _, n := range sent {
		byOrder[n.OrderID] = append(byOrder[n.OrderID], n.Status)
	}
	ids := make([]string, len(want))
	for i, w := range want {
		ids[i] = w.orderID
	}
	states, err := activities.NotifyStates(ctx, rdb, prefix, ids)
	if err != nil {
		return err
	}
	for i, w := range want {
		got := byOrder[w.orderID]
		if w.refused && (len(got) != 0 || states[i].Status != "fail") {
			return fmt.Errorf("%s: notify refused by the fault plan, but notifications %v, notify recorded %q", w.scenario, got, states[i].Status)
		}
		if !w.refused && (len(got) != 1 || got[0] != w.status) {
			return fmt.Errorf("%s: notifications %v, want one of %s", w.scenario, got, w.status)
		}
	}
	return nil
}

// placeAll places every scenario's order at once and waits for each outcome.
func placeAll(ctx context.Context, t *testing.T, eng shop.Engine, table []Scenario, orders map[string]shop.Order) map[string]shop.Outcome {
	outcomes := make(map[string]shop.Outcome, len(table))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, sc := range table {
		o := orders[sc.Name]
		wg.Go(func() {
			if err := eng.Place(ctx, o); err != nil {
				t.Errorf("%s: place: %v", sc.Name, err)
				return
			}
			out, err := eng.Wait(ctx, o.ID)
			if err != nil {
				t.Errorf("%s: wait: %v", sc.Name, err)
				return
			}
			mu.Lock()
			outcomes[sc.Name] = out
			mu.Unlock()
		})
	}
	wg.Wait()
	return outcomes
}

// books is the stock per SKU and the net amount charged of one engine.
type books struct {
	stock map[string]int64
	net   int64
}

func readBooks(ctx context.Context, rdb redis.UniversalClient, prefix string, cat shop.Catalog) (books, error) {
	stock, err := activities.Stock(ctx, rdb, prefix, cat)
	if err != nil {
		return books{}, err
	}
	ledger, err := activities.ReadLedger(ctx, rdb, prefix)
	if err != nil {
		return books{}, err
	}
	return books{stock: stock, net: ledger.ChargedCents - ledger.RefundedCents}, nil
}

// take moves the books by what an order with this outcome keeps: a
// completed order its items and its total; a FAILED one what its failed
// compensation left undone (a refund or a release that could not happen).
func (b *books) take(status shop.Status, o shop.Order, st activities.OrderState, cat shop.Catalog) {
	switch status {
	case shop.StatusCompleted:
		for _, it := range o.Items {
			b.stock[it.SKU] -= int64(it.Quantity)
		}
		b.net += o.Total(cat)
	case shop.StatusFailed:
		if st.Done(shop.OpCharge) && !st.Done(shop.OpRefund) {
			b.net += st.ChargedCents
		}
		if st.Done(shop.OpReserve) && !st.Done(shop.OpRelease) {
			for sku, q := range st.Reserved {
				b.stock[sku] -= q
			}
		}
	}
}

// CheckCompensations checks an outcome against what the participants
// recorded (see verify.OutcomeMatches), and that a completed order was not
// compensated at all.
func CheckCompensations(out shop.Outcome, st activities.OrderState) error {
	if err := verify.OutcomeMatches(out, st); err != nil {
		return err
	}
	if out.Status == shop.StatusCompleted {
		for _, op := range shop.Ops {
			if op.IsCompensation() && st.Ops[op].Status != "" {
				return fmt.Errorf("completed order has %s undone (%s)", op.Step(), op)
			}
		}
	}
	return nil
}
