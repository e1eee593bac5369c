package workflows_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// Diagnose says that no worker polls the task queue while none runs, both
// before any worker ever polled and after the last one stopped, and finds
// nothing once a worker took the order to its end.
func TestDiagnoseNoWorker(t *testing.T) {
	ctx := context.Background()
	st := startRealStack(t)
	rdb, c, catalog := st.rdb, st.client, st.catalog
	eng := workflows.NewEngine(c, catalog)
	place := func(id string) {
		t.Helper()
		if err := eng.Place(ctx, shop.Order{ID: id, Customer: "t", Items: []shop.Item{{SKU: "book", Quantity: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	noWorker := func(id string) {
		t.Helper()
		var why []string
		err := poll.For(ctx, 20*time.Second, poll.Every(200*time.Millisecond), func(ctx context.Context) (bool, error) {
			var err error
			why, err = eng.Diagnose(ctx, id)
			return len(why) == 1 && strings.Contains(why[0], "no worker polls the task queue "+workflows.TaskQueue), err
		})
		if err != nil {
			t.Fatalf("order %s: diagnosis %q, want that no worker polls %s: %v", id, why, workflows.TaskQueue, err)
		}
		// status answers without a worker too: the order runs.
		if p, err := eng.Status(ctx, id); err != nil || p.Status != shop.StatusPending {
			t.Fatalf("order %s without a worker: status %q, %v; want PENDING and no error", id, p.Status, err)
		}
	}

	place("diag-1")
	noWorker("diag-1")

	w := workflows.NewWorker(c, rdb, catalog, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	if out, err := eng.Wait(ctx, "diag-1"); err != nil || out.Status != shop.StatusCompleted {
		t.Fatalf("with a worker: %+v, %v", out, err)
	}
	if why, err := eng.Diagnose(ctx, "diag-1"); err != nil || len(why) != 0 {
		t.Fatalf("a completed order: %q, %v; want nothing", why, err)
	}

	// The stopped worker is still listed as a poller for a while: what
	// counts is that nobody polled since the task was scheduled.
	w.Stop()
	place("diag-2")
	noWorker("diag-2")
}
