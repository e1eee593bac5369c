package workflows_test

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// TestDeploymentHandsOver: a versioned worker takes a fresh server's task
// queue over once its build is current; a second build made current takes
// the orders from then on, and a worker that joins only IfCurrent stays
// unversioned where no deployment has a current version.
func TestDeploymentHandsOver(t *testing.T) {
	s := startRealStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	probe := workflows.Deployment{Name: workflows.DefaultDeploymentName, BuildID: "probe", SetCurrent: workflows.SetCurrentAlways}
	if d, err := probe.IfCurrent(ctx, s.client); err != nil || d.Name != "" {
		t.Fatalf("IfCurrent on a fresh server = %+v, %v; want the zero Deployment", d, err)
	}
	engine := workflows.NewEngine(s.client, s.catalog)
	for i, build := range []string{"20261201T100000Z-aaaaaaaaaaaa", "20261202T100000Z-bbbbbbbbbbbb"} {
		d := workflows.Deployment{Name: workflows.DefaultDeploymentName, BuildID: build, SetCurrent: workflows.SetCurrentAuto}
		w := workflows.NewWorker(s.client, s.rdb, s.catalog, d.WorkerOptions(worker.Options{}))
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		if current, err := d.Promote(ctx, s.client, time.Minute); err != nil || !current {
			t.Fatalf("build %s: current %v, %v", build, current, err)
		}
		id := "deploy-" + build[:8] + "-" + string(rune('a'+i))
		if err := engine.Place(ctx, shop.Order{ID: id, Customer: "ada", Items: []shop.Item{{SKU: "book", Quantity: 1}}}); err != nil {
			t.Fatal(err)
		}
		if out, err := engine.Wait(ctx, id); err != nil || out.Status != shop.StatusCompleted {
			t.Fatalf("order %s on build %s: %+v %v", id, build, out, err)
		}
		d2, err := probe.IfCurrent(ctx, s.client)
		if err != nil || d2.Name == "" {
			t.Fatalf("IfCurrent with build %s current = %+v, %v; want the probe back", build, d2, err)
		}
		w.Stop()
	}
	older := workflows.Deployment{Name: workflows.DefaultDeploymentName, BuildID: "20261201T100000Z-aaaaaaaaaaaa", SetCurrent: workflows.SetCurrentAuto}
	if current, err := older.Promote(ctx, s.client, time.Minute); err != nil || current {
		t.Errorf("an older build took the deployment back: current %v, %v", current, err)
	}
}
