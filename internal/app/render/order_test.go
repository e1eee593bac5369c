package render_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/render"
	"github.com/ordersaga/ordersaga/shop"
)

func TestPlacementResults(t *testing.T) {
	ui := func(id string) string { return "ui/" + id }
	ps := []admin.Placement{
		{Mode: shop.ModeOrchestration, Elapsed: 1500 * time.Microsecond, Outcome: shop.Outcome{Status: shop.StatusCompensated,
			Steps: []shop.Step{shop.StepInventory}, Compensated: []shop.Step{shop.StepInventory}, FailedStep: shop.StepPayment, Reason: "declined"}},
		{Mode: shop.ModeChoreography, Err: errors.New("no\nanswer"), Why: []string{"stuck"}},
	}
	got := render.PlacementResults(ps, "o-1", ui, false)
	if o := got[0]; o.Mode != shop.ModeOrchestration || o.OrderID != "o-1" || o.UIURL != "ui/o-1" || o.Status != shop.StatusCompensated ||
		o.FailedStep != shop.StepPayment || o.Reason != "declined" || o.ElapsedMS != 1.5 || len(o.Compensated) != 1 {
		t.Errorf("orchestration: %+v", o)
	}
	if c := got[1]; c.UIURL != "" || c.Status != shop.StatusPending || c.Error != "no answer" || len(c.Why) != 1 {
		t.Errorf("choreography: %+v, want PENDING with the error on one line and why", c)
	}
	placed := render.PlacementResults(ps, "o-1", ui, true)
	if o := placed[0]; o.Status != shop.StatusPending || o.UIURL != "ui/o-1" || o.ElapsedMS != 0 || o.Steps == nil {
		t.Errorf("placed only: %+v, want PENDING, no outcome", o)
	}
	if c := placed[1]; c.Error != "" || c.Why != nil {
		t.Errorf("placed only: %+v, want no error", c)
	}
}

// TestOrderNamesItsFaults: the order's line names every fault by its step
// (the fraud check's included) or its operation, notify too.
func TestOrderNamesItsFaults(t *testing.T) {
	plan, err := shop.ParseFaultPlan([]string{"fraud", "release:decline", "notify:transient:2"})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	render.Order(&b, shop.Order{ID: "o-1", Items: []shop.Item{{SKU: "book", Quantity: 48}}, Faults: plan}, nil, true)
	if want := "order o-1  items: book:48  faults: fraud:decline release:decline notify:transient:2\n"; !strings.HasPrefix(b.String(), want) {
		t.Errorf("Order printed %q, want it to begin with %q", b.String(), want)
	}
}
