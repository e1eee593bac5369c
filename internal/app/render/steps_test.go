package render_test

import (
	"testing"

	"github.com/ordersaga/ordersaga/internal/app/render"
	"github.com/ordersaga/ordersaga/shop"
)

// TestStepLines: each step an order reached has a line, the fraud check
// only when the order ran it; it is never undone.
func TestStepLines(t *testing.T) {
	inv, fraud, pay, ship := shop.StepInventory, shop.StepFraud, shop.StepPayment, shop.StepShipping
	progress := func(st shop.Status, steps, compensated []shop.Step, failed shop.Step, reason string, current shop.Op) shop.Progress {
		return shop.Progress{Outcome: shop.Outcome{Status: st, Steps: steps, Compensated: compensated, FailedStep: failed, Reason: reason}, Current: current}
	}
	cases := []struct {
		name string
		p    shop.Progress
		want []string
	}{
		{"completed", progress(shop.StatusCompleted, shop.Steps, nil, "", "", ""),
			[]string{"inventory done reserved", "fraud done cleared", "payment done charged", "shipping done scheduled"}},
		{"completed before the fraud check", progress(shop.StatusCompleted, shop.StepsBeforeFraud, nil, "", "", ""),
			[]string{"inventory done reserved", "payment done charged", "shipping done scheduled"}},
		{"refused by the fraud check", progress(shop.StatusCompensated, []shop.Step{inv}, []shop.Step{inv}, fraud, "FraudSuspected: too much", ""),
			[]string{"inventory undone reserved, then released", "fraud failed failed: FraudSuspected: too much"}},
		{"payment declined past the check", progress(shop.StatusCompensated, []shop.Step{inv, fraud}, []shop.Step{inv}, pay, "PaymentDeclined: no", ""),
			[]string{"inventory undone reserved, then released", "fraud done cleared", "payment failed failed: PaymentDeclined: no"}},
		{"refund refused", progress(shop.StatusFailed, []shop.Step{inv, fraud, pay}, []shop.Step{inv}, ship, "ShipmentFailed: no", ""),
			[]string{"inventory undone reserved, then released", "fraud done cleared", "payment kept charged, not refunded", "shipping failed failed: ShipmentFailed: no"}},
		{"checking now", progress(shop.StatusPending, []shop.Step{inv}, nil, "", "", shop.OpCheck),
			[]string{"inventory done reserved", "fraud running check running"}},
		{"releasing now", progress(shop.StatusPending, []shop.Step{inv}, nil, fraud, "FraudSuspected: x", shop.OpRelease),
			[]string{"inventory undoing reserved, release running", "fraud failed failed: FraudSuspected: x"}},
		{"reserving now", progress(shop.StatusPending, nil, nil, "", "", shop.OpReserve),
			[]string{"inventory running reserve running"}},
	}
	for _, c := range cases {
		lines := render.StepLines(c.p)
		var got []string
		for _, l := range lines {
			got = append(got, string(l.Step)+" "+l.State+" "+l.Text)
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: line %d is %q, want %q", c.name, i, got[i], c.want[i])
			}
		}
	}
}
