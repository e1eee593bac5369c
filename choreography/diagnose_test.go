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
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// Diagnose names the service whose group does not consume the order's last
// event: first a group that never had a consumer, then one whose consumer
// stopped; with the service running it finds nothing.
func TestDiagnoseNamesTheIdleService(t *testing.T) {
	ctx := context.Background()
	eng, node, start, stops := diagnoseStack(t)
	for _, svc := range []string{choreography.ServiceOrder, choreography.ServiceInventory, choreography.ServiceFraud, choreography.ServiceShipping} {
		start(svc, 0)
	}

	place := func(id string, faults ...string) { placeOrder(t, eng, id, faults...) }
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
	// The deployment is fresh: its orders take the fraud check, so payment
	// waits for FraudCleared on the fraud service's stream.
	diagnosed("diag-1", "no payment service consumes the stream "+node.Bus.StreamFor("diag-1", choreography.ServiceFraud), "group payment has no consumer", "FraudCleared")

	start(choreography.ServicePayment, 0)
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
	if err != nil || len(why) != 1 || !diagnosisSays(why[0], []string{"took the order's FraudCleared event", "has not finished it"}) {
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

// diagnoseStack is a choreography on a fresh redis-server whose services
// the test starts (with that many handler slots; 0: the default) and stops.
func diagnoseStack(t *testing.T) (*choreography.Engine, *choreography.Node, func(svc string, concurrency int), map[string]func()) {
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
	// stops[svc] stops a running service and waits until it has stopped.
	stops := map[string]func(){}
	start := func(svc string, concurrency int) {
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		stops[svc] = func() { cancel(); <-done }
		go func() {
			defer close(done)
			cfg := choreography.ConsumerConfig{Name: svc + "-1", Concurrency: concurrency, RetryBase: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond}
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
	return choreography.NewEngine(node, cat), node, start, stops
}

func placeOrder(t *testing.T, eng *choreography.Engine, id string, faults ...string) {
	t.Helper()
	plan, err := shop.ParseFaultPlan(faults)
	if err != nil {
		t.Fatal(err)
	}
	o := shop.Order{ID: id, Customer: "t", Items: []shop.Item{{SKU: "book", Quantity: 1}}, Faults: plan}
	if err := eng.Place(context.Background(), o); err != nil {
		t.Fatal(err)
	}
}

// A running service whose handler slots are all busy has not read an
// order's event: Diagnose says it runs and is busy, not that it stopped.
func TestDiagnoseBusyService(t *testing.T) {
	ctx := context.Background()
	eng, _, start, _ := diagnoseStack(t)
	for _, svc := range choreography.Services {
		start(svc, 1)
	}
	placeOrder(t, eng, "busy-1", "payment:delay:6s")
	if err := poll.For(ctx, 5*time.Second, poll.Every(50*time.Millisecond), func(ctx context.Context) (bool, error) {
		p, err := eng.Status(ctx, "busy-1")
		return err == nil && len(p.Steps) == 2, err // inventory, fraud
	}); err != nil {
		t.Fatalf("the slow charge did not start: %v", err)
	}
	placeOrder(t, eng, "busy-2")
	var got []string
	err := poll.For(ctx, 4*time.Second, poll.Every(100*time.Millisecond), func(ctx context.Context) (bool, error) {
		var err error
		got, err = eng.Diagnose(ctx, "busy-2")
		return len(got) == 1, err
	})
	if err != nil || !diagnosisSays(got[0], []string{"the payment service runs but has not read the order's FraudCleared event", "payment-1 running, 1 pending", "handlers are all busy"}) {
		t.Fatalf("diagnosis %q, %v; want that payment runs and is busy", got, err)
	}
	for _, id := range []string{"busy-1", "busy-2"} {
		if out, err := eng.Wait(ctx, id); err != nil || out.Status != shop.StatusCompleted {
			t.Fatalf("%s: %+v, %v", id, out, err)
		}
	}
}

func diagnosisSays(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
