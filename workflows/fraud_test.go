package workflows_test

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// TestFraudCheck runs the fraud check of OrderSaga version 5 on a real dev
// server and Redis: refused by the fault plan or by its rule, the order is
// COMPENSATED at the fraud step, its reservation released and nothing
// charged, and the customer is told so; a transient failure of the check
// is retried; the rule reads the order's customer.
func TestFraudCheck(t *testing.T) {
	s := startStack(t)
	price := s.catalog[e2eSKU].PriceCents
	for _, c := range []struct {
		name      string
		o         shop.Order
		reasonHas string
	}{
		{"by the fault plan", s.order(t, "fraud-plan", "fraud"), "declined by fault plan"},
		{"by the rule", s.orderOf(t, "fraud-rule", "grace", int(shop.FraudLimitCents/price)+1), "above the limit"},
		{"a guest by the rule", s.orderOf(t, "fraud-guest", "", int(shop.GuestFraudLimitCents/price)+1), "guest"},
	} {
		t.Run("refused "+c.name, func(t *testing.T) {
			before := s.books(t)
			out := s.run(t, c.o)
			want := shop.Outcome{OrderID: c.o.ID, Status: shop.StatusCompensated, FailedStep: shop.StepFraud,
				Steps: []shop.Step{shop.StepInventory}, Compensated: []shop.Step{shop.StepInventory}}
			reason := out.Reason
			out.Reason = ""
			if !reflect.DeepEqual(out, want) || !strings.HasPrefix(reason, activities.ErrTypeFraudSuspected+": ") || !strings.Contains(reason, c.reasonHas) {
				t.Fatalf("outcome = %+v (reason %q), want %+v with reason %s: …%s…", out, reason, want, activities.ErrTypeFraudSuspected, c.reasonHas)
			}
			if after := s.books(t); after != before {
				t.Errorf("books went from %+v to %+v, want them unchanged: stock released, nothing charged", before, after)
			}
			h := s.history(t, c.o.ID)
			if want := []string{"reserve:ok", "check:fail", "release:ok", "notify:ok"}; !slices.Equal(closings(h), want) {
				t.Errorf("activity results = %v, want %v", closings(h), want)
			}
			rel := find(h, 0, "ActivityTaskScheduled", shop.OpRelease)
			if want := "release " + c.o.Items[0].SKU; rel < 0 || !strings.Contains(h[rel].Detail, want) || !strings.Contains(h[rel].Detail, "after FraudSuspected") {
				t.Errorf("release's summary = %+v, want it to %s after FraudSuspected", h[max(rel, 0)], want)
			}
			if d := s.describe(t, c.o.ID); d.orderStatus != "COMPENSATED" || d.failedStep != "fraud" {
				t.Errorf("search attributes OrderStatus %q, OrderFailedStep %q; want COMPENSATED, fraud", d.orderStatus, d.failedStep)
			}
			s.wantNotified(t, c.o.ID, shop.StatusCompensated, shop.StepFraud)
		})
	}

	t.Run("cleared for the customer the guest rule refuses", func(t *testing.T) {
		o := s.orderOf(t, "fraud-customer", "grace", int(shop.GuestFraudLimitCents/price)+1)
		if out := s.run(t, o); out.Status != shop.StatusCompleted || !slices.Equal(out.Steps, shop.Steps) {
			t.Fatalf("outcome = %+v, want COMPLETED with every step", out)
		}
	})

	t.Run("transient failure of the check is retried", func(t *testing.T) {
		o := s.order(t, "fraud-transient", "check:transient:2")
		if out := s.run(t, o); out.Status != shop.StatusCompleted || !slices.Equal(out.Steps, shop.Steps) {
			t.Fatalf("outcome = %+v, want COMPLETED with every step", out)
		}
		h := s.history(t, o.ID)
		started := find(h, 0, "ActivityTaskStarted", shop.OpCheck)
		if started < 0 || h[started].Result != workflows.ResultRetry || !strings.Contains(h[started].Detail, "attempt 3") {
			t.Errorf("history = %+v, want the check started on attempt 3 after two transient failures", h)
		}
		s.wantNotified(t, o.ID, shop.StatusCompleted, "")
	})
}

// orderOf is an order of qty of the stack's item by customer ("" a guest).
func (s *stack) orderOf(t *testing.T, id, customer string, qty int) shop.Order {
	t.Helper()
	o := s.order(t, id)
	o.Customer = customer
	o.Items[0].Quantity = qty
	return o
}

// wantNotified fails unless the customer was told of the order once, with
// its status and failed step.
func (s *stack) wantNotified(t *testing.T, orderID string, status shop.Status, failed shop.Step) {
	t.Helper()
	all, err := activities.Notifications(context.Background(), s.rdb, activities.OrchestrationPrefix, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []activities.Notification
	for _, n := range all {
		if n.OrderID == orderID {
			got = append(got, n)
		}
	}
	if len(got) != 1 || got[0].Status != status || got[0].FailedStep != failed {
		t.Errorf("notifications of %s = %+v, want one saying %s, failed step %q", orderID, got, status, failed)
	}
}
