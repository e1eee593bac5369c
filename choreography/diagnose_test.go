package choreography_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/poll"
	"github.com/ordersaga/ordersaga/internal/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// Diagnose names the service whose group does not consume the order's last
// event: first a group that never had a consumer, then one whose consumer
// stopped; with the service running it finds nothing.
func TestDiagnoseNamesTheIdleService(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.StartRedis(t).Client()
	cat := shop.DefaultCatalog()
	if err := activities.Seed(ctx, rdb, activities.ChoreographyPrefix, cat); err != nil {
		t.Fatal(err)
	}
	node := choreography.NewNode(rdb, cat, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := node.Bus.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	eng := choreography.NewEngine(node, cat)
	// stops[svc] stops a running service and waits until it has stopped.
	stops := map[string]func(){}
	start := func(svc string) {
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		stops[svc] = func() { cancel(); <-done }
		go func() {
			defer close(done)
			cfg := choreography.ConsumerConfig{Name: svc + "-1", RetryBase: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond}
			if err := node.RunService(sctx, svc, cfg); err != nil {
				t.Errorf("%s: %v", svc, err)
			}
		}()
	}
	t.Cleanup(func() {
		for _, stop := range stops {
			stop()
		}
	})
	for _, svc := range []string{choreography.ServiceOrder, choreography.ServiceInventory, choreography.ServiceShipping} {
		start(svc)
	}

	place := func(id string, faults ...string) {
		t.Helper()
		plan, err := shop.ParseFaultPlan(faults)
		if err != nil {
			t.Fatal(err)
		}
		o := shop.Order{ID: id, Customer: "t", Items: []shop.Item{{SKU: "book", Quantity: 1}}, Faults: plan}
		if err := eng.Place(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// diagnosed waits until Diagnose says something with every one of want.
	diagnosed := func(id string, want ...string) {
		t.Helper()
		var got []string
		err := poll.For(ctx, 15*time.Second, poll.Every(100*time.Millisecond), func(ctx context.Context) (bool, error) {
			var err error
			got, err = eng.Diagnose(ctx, id)
			return len(got) == 1 && diagnosisSays(got[0], want), err
		})
		if err != nil {
			t.Fatalf("order %s: diagnosis %q, want one mentioning %q: %v", id, got, want, err)
		}
	}

	place("diag-1")
	diagnosed("diag-1", "no payment service consumes the stream "+node.Bus.StreamFor("diag-1", choreography.ServiceInventory), "group payment has no consumer", "InventoryReserved")

	start(choreography.ServicePayment)
	if out, err := eng.Wait(ctx, "diag-1"); err != nil || out.Status != shop.StatusCompleted {
		t.Fatalf("with payment running: %+v, %v", out, err)
	}
	if why, err := eng.Diagnose(ctx, "diag-1"); err != nil || len(why) != 0 {
		t.Fatalf("a completed order: %q, %v; want nothing", why, err)
	}

	// A running service busy with a slow step is not taken for a stopped one.
	place("diag-slow", "payment:delay:4s")
	if err := poll.Sleep(ctx, choreography.LiveWithin+500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	why, err := eng.Diagnose(ctx, "diag-slow")
	if err != nil || len(why) != 1 || !diagnosisSays(why[0], []string{"took the order's InventoryReserved event", "has not finished it"}) {
		t.Fatalf("a slow payment: %q, %v; want that the service took the event and works on it", why, err)
	}
	if out, err := eng.Wait(ctx, "diag-slow"); err != nil || out.Status != shop.StatusCompleted {
		t.Fatalf("slow payment: %+v, %v", out, err)
	}

	stops[choreography.ServicePayment]()
	delete(stops, choreography.ServicePayment)
	place("diag-2")
	diagnosed("diag-2", "the payment service is not consuming", "group payment has unread entries", "none of its consumers runs", "payment-1 stopped", "start the payment service")
}

func diagnosisSays(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
