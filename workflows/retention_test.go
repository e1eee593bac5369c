package workflows_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// TestSettlerBoundsParticipantRecords: once an order's workflow has been
// closed longer than the retention window, its participant records are
// folded into the settled totals and deleted (memory no longer grows with
// every order ever placed), each order once however often the settler
// runs, and verify still accounts for every order. A settled order's ID
// is still refused while Temporal keeps its workflow.
func TestSettlerBoundsParticipantRecords(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()
	orders := []shop.Order{s.order(t, "settle-ok"), s.order(t, "settle-declined", "payment")}
	for _, o := range orders {
		s.run(t, o)
	}
	lay, err := activities.LayoutOf(ctx, s.rdb, activities.OrchestrationPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.recordKeys(t, lay, orders); n == 0 {
		t.Fatal("the orders left no participant records to settle")
	}
	settler := &workflows.Settler{Engine: s.engine, Redis: s.rdb, Retention: time.Millisecond,
		MarkerRetention: workflows.DefaultMarkerRetention, Now: time.Now, Log: slog.New(slog.DiscardHandler)}
	settled := 0
	err = poll.For(ctx, 30*time.Second, poll.Every(100*time.Millisecond), func(ctx context.Context) (bool, error) {
		n, err := settler.Settle(ctx)
		settled += n
		return settled >= len(orders), err
	})
	if err != nil || settled != len(orders) {
		t.Fatalf("settled %d of %d orders: %v", settled, len(orders), err)
	}
	if n, err := settler.Settle(ctx); n != 0 || err != nil {
		t.Errorf("a second round settled %d more (%v), want none", n, err)
	}
	if n := s.recordKeys(t, lay, orders); n != 0 {
		t.Errorf("%d participant records of settled orders left", n)
	}
	rep, err := verify.Check(ctx, s.rdb, s.engine.WithRedis(s.rdb), s.catalog, verify.Options{})
	if err != nil || !rep.OK() || rep.Orders != len(orders) || rep.Settled != len(orders) ||
		rep.Statuses[shop.StatusCompleted] != 1 || rep.Statuses[shop.StatusCompensated] != 1 {
		t.Fatalf("verify after settling: %+v, %v", rep, err)
	}
	if err := s.engine.Place(ctx, orders[0]); !errors.Is(err, shop.ErrDuplicateOrder) {
		t.Errorf("placing settled order %s again: %v, want %v while Temporal keeps its workflow", orders[0].ID, err, shop.ErrDuplicateOrder)
	}
}

// recordKeys counts the participant hashes (the fraud check's included)
// and stock holds of orders.
func (s *stack) recordKeys(t *testing.T, lay activities.Layout, orders []shop.Order) int64 {
	t.Helper()
	var n int64
	for _, o := range orders {
		inv, pay, ship := lay.OrderKeys(o.ID)
		k, err := s.rdb.Exists(context.Background(), inv, lay.FraudKey(o.ID), pay, ship).Result()
		if err != nil {
			t.Fatal(err)
		}
		n += k
		for _, it := range o.Items {
			if held, _ := s.rdb.HExists(context.Background(), lay.HoldsKey(it.SKU), o.ID).Result(); held {
				n++
			}
		}
	}
	return n
}
