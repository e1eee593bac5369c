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
	"github.com/ordersaga/ordersaga/internal/verify"
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
}

var (
	inv, pay, ship = shop.StepInventory, shop.StepPayment, shop.StepShipping
	all            = []shop.Step{inv, pay, ship}
	none           = []shop.Step{}
)

// Table returns every scenario.
func Table() []Scenario {
	return []Scenario{
		{Name: "happy", Status: shop.StatusCompleted, Steps: all, Compensated: none},
		{Name: "inventory-decline", Faults: []string{"inventory:decline"}, Status: shop.StatusCompensated, Steps: none, Compensated: none, FailedStep: inv},
		{Name: "payment-decline", Faults: []string{"payment:decline"}, Status: shop.StatusCompensated, Steps: []shop.Step{inv}, Compensated: []shop.Step{inv}, FailedStep: pay},
		{Name: "shipping-decline", Faults: []string{"shipping:decline"}, Status: shop.StatusCompensated, Steps: []shop.Step{inv, pay}, Compensated: []shop.Step{pay, inv}, FailedStep: ship},
		{Name: "inventory-transient", Faults: []string{"inventory:transient:2"}, Status: shop.StatusCompleted, Steps: all, Compensated: none},
		{Name: "payment-transient", Faults: []string{"payment:transient:2"}, Status: shop.StatusCompleted, Steps: all, Compensated: none},
		{Name: "shipping-transient", Faults: []string{"shipping:transient:2"}, Status: shop.StatusCompleted, Steps: all, Compensated: none},
		{Name: "payment-delay", Faults: []string{"payment:delay:50ms"}, Status: shop.StatusCompleted, Steps: all, Compensated: none},
		{Name: "out-of-stock", Items: []shop.Item{{SKU: "poster", Quantity: 11}}, Status: shop.StatusCompensated, Steps: none, Compensated: none, FailedStep: inv, ReasonSubstring: "out of stock"},
		{Name: "release-transient", Faults: []string{"payment:decline", "release:transient:2"}, Status: shop.StatusCompensated, Steps: []shop.Step{inv}, Compensated: []shop.Step{inv}, FailedStep: pay},
		{Name: "refund-decline", Faults: []string{"shipping:decline", "refund:decline"}, Status: shop.StatusFailed, Steps: []shop.Step{inv, pay}, Compensated: []shop.Step{inv}, FailedStep: ship},
		{Name: "release-decline", Faults: []string{"payment:decline", "release:decline"}, Status: shop.StatusFailed, Steps: []shop.Step{inv}, Compensated: none, FailedStep: pay},
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
	return shop.Order{ID: id, Customer: "scenario", Items: items, Faults: plan}
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
	stockBefore, err := activities.Stock(ctx, rdb, prefix, cat)
	if err != nil {
		t.Fatal(err)
	}
	ledgerBefore, err := activities.ReadLedger(ctx, rdb, prefix)
	if err != nil {
		t.Fatal(err)
	}

	run := fmt.Sprintf("%d", time.Now().UnixNano())
	table := Table()
	outcomes := make(map[string]shop.Outcome, len(table))
	orders := make(map[string]shop.Order, len(table))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, sc := range table {
		o := sc.Order(sc.Name + "-" + run)
		orders[sc.Name] = o
		wg.Add(1)
		go func() {
			defer wg.Done()
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
		}()
	}
	wg.Wait()

	wantStock := stockBefore
	var wantCharged int64
	for _, sc := range table {
		out, ok := outcomes[sc.Name]
		if !ok {
			continue
		}
		if err := sc.Check(out); err != nil {
			t.Errorf("%s (%s): %v", sc.Name, eng.Mode(), err)
		}
		o := orders[sc.Name]
		st, err := activities.ReadOrderState(ctx, rdb, prefix, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckCompensations(out, st); err != nil {
			t.Errorf("%s (%s): %v", sc.Name, eng.Mode(), err)
		}
		if out.Status == shop.StatusCompleted {
			for _, it := range o.Items {
				wantStock[it.SKU] -= int64(it.Quantity)
			}
			wantCharged += o.Total(cat)
		}
	}
	if t.Failed() {
		return outcomes
	}
	// The FAILED scenarios leave something not undone on purpose: a refund
	// or a release that could not happen. Account for it.
	for _, sc := range table {
		if sc.Status != shop.StatusFailed {
			continue
		}
		o := orders[sc.Name]
		st, _ := activities.ReadOrderState(ctx, rdb, prefix, o.ID)
		if st.Done(shop.OpCharge) && !st.Done(shop.OpRefund) {
			wantCharged += st.ChargedCents
		}
		if st.Done(shop.OpReserve) && !st.Done(shop.OpRelease) {
			for sku, q := range st.Reserved {
				wantStock[sku] -= q
			}
		}
	}
	stockAfter, err := activities.Stock(ctx, rdb, prefix, cat)
	if err != nil {
		t.Fatal(err)
	}
	for sku, want := range wantStock {
		if stockAfter[sku] != want {
			t.Errorf("%s: stock of %s is %d, want %d", eng.Mode(), sku, stockAfter[sku], want)
		}
	}
	ledgerAfter, err := activities.ReadLedger(ctx, rdb, prefix)
	if err != nil {
		t.Fatal(err)
	}
	net := (ledgerAfter.ChargedCents - ledgerBefore.ChargedCents) - (ledgerAfter.RefundedCents - ledgerBefore.RefundedCents)
	if net != wantCharged {
		t.Errorf("%s: charged minus refunded moved by %d cents, want %d", eng.Mode(), net, wantCharged)
	}
	return outcomes
}

// CheckCompensations checks an outcome against what the participants
// recorded (see verify.OutcomeMatches), and that a completed order was not
// compensated at all.
func CheckCompensations(out shop.Outcome, st activities.OrderState) error {
	if err := verify.OutcomeMatches(out, st); err != nil {
		return err
	}
	if out.Status == shop.StatusCompleted {
		for _, s := range shop.Steps {
			if st.Ops[s.Compensation()].Status != "" {
				return fmt.Errorf("completed order has %s undone", s)
			}
		}
	}
	return nil
}
