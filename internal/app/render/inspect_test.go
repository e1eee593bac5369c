package render_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/render"
	"github.com/ordersaga/ordersaga/shop"
)

func TestStatusKey(t *testing.T) {
	running := render.StatusResult{Result: render.Result{Mode: shop.ModeChoreography, Status: shop.StatusPending,
		Steps: []shop.Step{shop.StepInventory}, Why: []string{"no consumer has read it for 2s"}}, Found: true, Current: shop.OpCharge}
	later := running
	later.Why = []string{"no consumer has read it for 4s"}
	if render.StatusKey([]render.StatusResult{running}) != render.StatusKey([]render.StatusResult{later}) {
		t.Error("the key changed with the wording of a reason")
	}
	moved := running
	moved.Current = shop.OpSchedule
	fewer := running
	fewer.Why = nil
	for _, other := range []render.StatusResult{moved, fewer} {
		if render.StatusKey([]render.StatusResult{running}) == render.StatusKey([]render.StatusResult{other}) {
			t.Errorf("the key did not change from %+v to %+v", running, other)
		}
	}
}

func TestHistoryResults(t *testing.T) {
	evs := []shop.Event{{Name: "InventoryReserved", Op: shop.OpReserve}}
	got := render.HistoryResults([]shop.Mode{shop.ModeOrchestration, shop.ModeChoreography}, "o-1",
		map[shop.Mode][]shop.Event{shop.ModeChoreography: evs})
	if len(got) != 2 {
		t.Fatalf("HistoryResults = %+v, want one per mode", got)
	}
	if o := got[0]; o.Mode != shop.ModeOrchestration || o.OrderID != "o-1" || o.Found || o.Events == nil || len(o.Events) != 0 {
		t.Errorf("orchestration: %+v, want not found with an empty (not nil) timeline", o)
	}
	if c := got[1]; c.Mode != shop.ModeChoreography || !c.Found || len(c.Events) != 1 || c.Events[0].Name != "InventoryReserved" {
		t.Errorf("choreography: %+v, want found with its timeline", c)
	}
}

func TestRedriven(t *testing.T) {
	var b bytes.Buffer
	render.Redriven(&b, []choreography.DeadLetter{
		{ID: "1-0", Type: "OrderPlaced", Stream: "s1", Time: time.Now()},
		{ID: "2-0", Stream: "s2"},
	})
	want := "redrove 1-0 (OrderPlaced) back to s1\nredrove 2-0 (-) back to s2\n2 entries redriven\n"
	if b.String() != want {
		t.Errorf("Redriven wrote %q, want %q", b.String(), want)
	}
	b.Reset()
	render.Redriven(&b, nil)
	if b.String() != "0 entries redriven\n" {
		t.Errorf("Redriven of none wrote %q", b.String())
	}
}

func TestReasonWithoutAFailedStep(t *testing.T) {
	r := render.Result{Mode: shop.ModeOrchestration, Reason: "cancelled"}
	if got, want := r.ReasonLine(), "orchestration: cancelled"; got != want {
		t.Errorf("ReasonLine() = %q, want %q", got, want)
	}
	r.FailedStep, r.Reason = shop.StepPayment, "PaymentDeclined: declined"
	if got, want := r.ReasonLine(), "orchestration: payment failed: PaymentDeclined: declined"; got != want {
		t.Errorf("ReasonLine() = %q, want %q", got, want)
	}
	out := render.Status([]render.StatusResult{{Result: render.Result{Mode: shop.ModeOrchestration, Status: shop.StatusCompensated, Reason: "cancelled"}, Found: true}})
	if strings.Contains(out, ":  failed") || !strings.Contains(out, "orchestration: cancelled\n") {
		t.Errorf("Status of a cancelled order:\n%s", out)
	}
}

// TestStatusOfBothPlans: an order refused by the fraud check shows the
// check as the failed step with its refusal; an order of the plan before
// the check shows its three steps and nothing of the check.
func TestStatusOfBothPlans(t *testing.T) {
	inv := []shop.Step{shop.StepInventory}
	refused := render.StatusResult{Found: true, Result: render.Result{Mode: shop.ModeOrchestration, Status: shop.StatusCompensated,
		Steps: inv, Compensated: inv, FailedStep: shop.StepFraud, Reason: "FraudSuspected: an order of 2016.00 is above the limit of 2000.00"}}
	old := render.StatusResult{Found: true, Result: render.Result{Mode: shop.ModeChoreography, Status: shop.StatusCompleted,
		Steps: shop.StepsBeforeFraud, Compensated: []shop.Step{}}}
	out := render.Status([]render.StatusResult{refused, old})
	for _, want := range []string{
		"orchestration  COMPENSATED  -            inventory                   inventory",
		"choreography   COMPLETED    -            inventory,payment,shipping  -",
		"orchestration: fraud failed: FraudSuspected: an order of 2016.00 is above the limit of 2000.00\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Status does not show %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "fraud") != 1 {
		t.Errorf("the fraud check shows other than once, in the refused order's reason:\n%s", out)
	}
}
