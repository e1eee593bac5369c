package scenarios_test

import (
	"slices"
	"testing"

	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/internal/app/scenarios"
	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/shop"
)

// TestTableIsConsistent: every scenario expects an outcome of the saga's
// plan with the fraud check, compensations newest first of the steps that
// have one, the status the bench expects of its fault plan, and an order
// the fraud check's rule lets through unless the scenario is about it.
func TestTableIsConsistent(t *testing.T) {
	cat := shop.DefaultCatalog()
	names := map[string]bool{}
	for _, sc := range scenarios.Table() {
		if names[sc.Name] {
			t.Errorf("%s: two scenarios of that name", sc.Name)
		}
		names[sc.Name] = true
		out := shop.Outcome{Status: sc.Status, Steps: sc.Steps, Compensated: sc.Compensated, FailedStep: sc.FailedStep}
		if p := verify.PlanOf(out); !slices.Equal(p, shop.Steps) {
			t.Errorf("%s: steps %v, failed %q follow %v, not the plan with the fraud check", sc.Name, sc.Steps, sc.FailedStep, p)
		}
		if sc.Status == shop.StatusCompensated {
			var want []shop.Step
			for _, s := range slices.Backward(sc.Steps) {
				if s.Compensation() != "" {
					want = append(want, s)
				}
			}
			if !slices.Equal(sc.Compensated, want) {
				t.Errorf("%s: compensated %v, want %v", sc.Name, sc.Compensated, want)
			}
		}
		o := sc.Order("o-" + sc.Name)
		if err := o.Validate(cat); err != nil {
			t.Errorf("%s: %v", sc.Name, err)
		}
		refused := shop.FraudRefusal(o.Customer, o.Total(cat)) != ""
		if byRule := sc.Items != nil && sc.FailedStep == shop.StepFraud; refused != byRule {
			t.Errorf("%s: the fraud check's rule refuses the order: %v, want %v", sc.Name, refused, byRule)
		}
		if sc.Items == nil && bench.Expected(o) != sc.Status {
			t.Errorf("%s: the bench expects %s of its fault plan, the scenario %s", sc.Name, bench.Expected(o), sc.Status)
		}
	}
	for _, like := range scenarios.Table() {
		if like.Like != "" && !names[like.Like] {
			t.Errorf("%s: ends like %q, which is no scenario", like.Name, like.Like)
		}
	}
}
