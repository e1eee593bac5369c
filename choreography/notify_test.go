package choreography_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
)

// The notify service is a subscriber and nothing more: orders end the
// same whether it runs or not; once it runs it tells each customer once,
// with the order's outcome, whatever happened before it started, and a
// terminal event delivered again changes nothing.
func TestNotifyIsASubscriberOnly(t *testing.T) { onBoth(t, testNotifyIsASubscriberOnly) }

func testNotifyIsASubscriberOnly(t *testing.T, h *harness) {
	for _, s := range []string{choreography.ServiceOrder, choreography.ServiceInventory, choreography.ServiceFraud, choreography.ServicePayment, choreography.ServiceShipping} {
		h.start(s, s+"-1")
	}
	plans := map[string][]string{
		"done": nil, "undone": {"payment:decline"}, "failed": {"shipping:decline", "refund:decline"},
		"quiet": {"notify"}, "quiet-undone": {"payment:decline", "notify:decline"},
	}
	want := map[string]shop.Status{}
	for name, specs := range plans {
		plan, err := shop.ParseFaultPlan(specs)
		if err != nil {
			t.Fatal(err)
		}
		out := h.run(order("n-"+name, plan))
		want["n-"+name] = out.Status
	}
	if want["n-quiet"] != shop.StatusCompleted || want["n-quiet-undone"] != want["n-undone"] || want["n-failed"] != shop.StatusFailed {
		t.Fatalf("outcomes %v: a notify fault changed an order's end", want)
	}
	ctx := context.Background()
	if got, _ := activities.Notifications(ctx, h.rdb, activities.ChoreographyPrefix, 0); len(got) != 0 {
		t.Fatalf("notified %v with no notify service running", got)
	}
	h.start(choreography.ServiceNotify, "notify-1")
	teststack.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error { return notifiedOnce(ctx, h, want) })
	// Every terminal event again: nobody is told twice.
	for _, s := range h.node.Bus.StreamsOf(choreography.ServiceOrder) {
		msgs, err := h.rdb.XRange(ctx, s, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Values["type"] == string(choreography.OrderPlaced) {
				continue
			}
			if err := h.rdb.XAdd(ctx, &redis.XAddArgs{Stream: s, Values: m.Values}).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitDrained(t, h)
	if err := notifiedOnce(ctx, h, want); err != nil {
		t.Fatal(err)
	}
	if rep := h.verify(); len(rep.Violations) != 1 || rep.Violations[0].Kind != shop.ViolationFailed {
		t.Fatalf("verify: %v", rep.Violations)
	}
}

// notifiedOnce says how the notifications differ from one per order of
// want with its status, the orders whose notify is refused aside.
func notifiedOnce(ctx context.Context, h *harness, want map[string]shop.Status) error {
	got, err := activities.Notifications(ctx, h.rdb, activities.ChoreographyPrefix, 0)
	if err != nil {
		return err
	}
	seen := map[string][]shop.Status{}
	for _, n := range got {
		seen[n.OrderID] = append(seen[n.OrderID], n.Status)
	}
	for id, st := range want {
		quiet := id == "n-quiet" || id == "n-quiet-undone"
		if quiet && len(seen[id]) != 0 || !quiet && (len(seen[id]) != 1 || seen[id][0] != st) {
			return fmt.Errorf("order %s: notified %v, want %s once (all: %v)", id, seen[id], st, seen)
		}
	}
	return nil
}
