package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/platform/telemetry"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
)

// TestChoreographyAlertThresholdFollowsWorker runs the choreography's
// services with --compensation-alert-after 1s and places an order whose
// refund keeps failing for some seconds: the engine opened the way the
// starter opens it shows the order COMPENSATING in status and in the live
// page's list, and the worker's gauge counts it, all past the worker's
// threshold, not the default minute.
func TestChoreographyAlertThresholdFollowsWorker(t *testing.T) {
	srv := testenv.StartRedis(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	startWorker(t, func(ctx context.Context) error {
		return run(ctx, []string{"--services", "order,inventory,fraud,payment,shipping", "--redis-url", srv.URL(),
			"--log-level", "error", "--metrics-addr", addr, "--compensation-alert-after", "1s"})
	})
	waitStatus(t, "http://"+addr+"/readyz", http.StatusOK, time.Minute)
	cfg := config.FromEnv()
	cfg.RedisURL, cfg.RedisClusterURL = srv.URL(), ""
	ctx := context.Background()
	eng, err := admin.Open(ctx, cfg, []shop.Mode{shop.ModeChoreography}, admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	o := shop.Order{ID: "alert-1", Items: []shop.Item{{SKU: "pen", Quantity: 1}},
		Faults: shop.FaultPlan{shop.OpSchedule: {Kind: shop.FaultDecline}, shop.OpRefund: {Kind: shop.FaultTransient, Attempts: 8}}}
	if err := eng.Choreography.Place(ctx, o); err != nil {
		t.Fatal(err)
	}
	var status, page, gauge bool
	err = poll.For(ctx, time.Minute, poll.Every(100*time.Millisecond), func(ctx context.Context) (bool, error) {
		p, err := eng.Sources[shop.ModeChoreography].Status(ctx, o.ID)
		if err != nil {
			return false, err
		}
		status = status || p.Status == shop.StatusCompensating && p.Current == shop.OpRefund && p.RetryingSince != nil
		recs, _, err := eng.Choreography.Recent(ctx, 10)
		page = page || err == nil && len(recs) == 1 && recs[0].Status == shop.StatusCompensating
		gauge = gauge || sum(scrape(t, addr), telemetry.MetricOrdersCompensating,
			map[string]string{"engine": telemetry.EngineChoreography, "op": string(shop.OpRefund)}) == 1
		return p.Status.Terminal() || status && page && gauge, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !status || !page || !gauge {
		t.Errorf("the refund retrying past --compensation-alert-after 1s: COMPENSATING in status %v, on the page %v, in the gauge %v; want all",
			status, page, gauge)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if out, err := eng.Choreography.Wait(wctx, o.ID); err != nil || out.Status != shop.StatusCompensated {
		t.Errorf("the order after its refund succeeded: %v %v, want COMPENSATED", out.Status, err)
	}
}
