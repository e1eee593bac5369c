package activities_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

func outcome(id string, st shop.Status) shop.Outcome {
	return shop.Outcome{OrderID: id, Status: st, FailedStep: shop.StepPayment, Reason: "PaymentDeclined: declined by fault plan"}
}

// TestNotifyOncePerOrder: a notification is recorded once per order, with
// the order's outcome, however often it is sent.
func TestNotifyOncePerOrder(t *testing.T) {
	e := newEnv(t, nil)
	n := activities.NewNotifier(e.rdb, e.prefix, time.Hour)
	ctx := t.Context()
	in := activities.NotifyInput{Outcome: outcome("n-1", shop.StatusCompensated)}
	for i := range 3 {
		res, err := n.Notify(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if res.Duplicate != (i > 0) {
			t.Errorf("attempt %d: duplicate %v", i, res.Duplicate)
		}
	}
	if _, err := n.Notify(ctx, activities.NotifyInput{Outcome: outcome("n-2", shop.StatusCompleted)}); err != nil {
		t.Fatal(err)
	}
	got, err := activities.Notifications(ctx, e.rdb, e.prefix, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d notifications, want 2: %+v", len(got), got)
	}
	byOrder := map[string]activities.Notification{}
	for _, x := range got {
		byOrder[x.OrderID] = x
	}
	if x := byOrder["n-1"]; x.Status != shop.StatusCompensated || x.FailedStep != shop.StepPayment || x.Reason == "" {
		t.Errorf("n-1: %+v", x)
	}
	if x := byOrder["n-2"]; x.Status != shop.StatusCompleted {
		t.Errorf("n-2: %+v", x)
	}
	ttl := e.rdb.PTTL(ctx, e.prefix+"{p0}:notify:n-1").Val()
	if ttl <= 0 || ttl > time.Hour {
		t.Errorf("notification record expires in %s, want within the retention of 1h", ttl)
	}
	if _, err := n.Notify(ctx, activities.NotifyInput{Outcome: outcome("n-3", shop.StatusPending)}); err == nil {
		t.Error("notified an order still PENDING")
	}
}

// TestNotifyFaults: --fail notify refuses the notification (recorded, no
// notification sent); transient:N fails N times, then sends once.
func TestNotifyFaults(t *testing.T) {
	e := newEnv(t, nil)
	n := activities.NewNotifier(e.rdb, e.prefix, 0)
	ctx := t.Context()
	plan, err := shop.ParseFaultPlan([]string{"notify"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.Notify(ctx, activities.NotifyInput{Outcome: outcome("f-1", shop.StatusCompleted), Faults: plan})
	if _, ok := activities.IsRefusal(err); !ok {
		t.Fatalf("notify with --fail notify: %v, want a refusal", err)
	}
	plan, _ = shop.ParseFaultPlan([]string{"notify:transient:2"})
	in := activities.NotifyInput{Outcome: outcome("f-2", shop.StatusFailed), Faults: plan}
	for i := range 2 {
		var te *activities.TransientError
		if _, err := n.Notify(ctx, in); !errors.As(err, &te) {
			t.Fatalf("attempt %d: %v, want a transient error", i, err)
		}
	}
	if _, err := n.Notify(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := activities.Notifications(ctx, e.rdb, e.prefix, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].OrderID != "f-2" || got[0].Status != shop.StatusFailed {
		t.Fatalf("notifications %+v, want f-2 FAILED only", got)
	}
	st, err := activities.NotifyStates(ctx, e.rdb, e.prefix, []string{"f-1", "f-2", "f-3"})
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Status != "fail" || st[1].Status != "ok" || st[1].Attempts != 3 || st[2].Status != "" {
		t.Errorf("notify states %+v", st)
	}
}
