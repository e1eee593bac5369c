package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/platform/telemetry"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
)

// upstreamSDKNames are some of the series Temporal's dashboard for the Go
// SDK with OpenTelemetry (temporalio/dashboards, sdk/temporal-go-sdk-otel.json)
// queries, each of which one order gives a series: counters without
// _total, timers in seconds.
var upstreamSDKNames = []string{
	"temporal_request", "temporal_request_latency_seconds_bucket", "temporal_long_request_latency_seconds_bucket",
	"temporal_workflow_completed", "temporal_workflow_endtoend_latency_seconds_bucket",
	"temporal_workflow_task_queue_poll_succeed", "temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
	"temporal_workflow_task_execution_latency_seconds_bucket",
	"temporal_activity_execution_latency_seconds_bucket", "temporal_activity_schedule_to_start_latency_seconds_bucket",
	"temporal_activity_succeed_endtoend_latency_seconds_bucket", "temporal_worker_task_slots_available",
}

// TestSDKMetricsUpstreamNames runs the worker with --metrics-addr, places
// one order on both engines and reads /metrics: the Temporal SDK's series
// are named as the upstream dashboard queries them, no temporal_ counter
// ends in _total, and the project's counters keep their _total, the
// orchestration's saga counts (recorded through the SDK's handler) among
// them.
func TestSDKMetricsUpstreamNames(t *testing.T) {
	s := startStack(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	startWorker(t, func(ctx context.Context) error { return run(ctx, s.args("--metrics-addr", addr)) })
	waitStatus(t, "http://"+addr+"/readyz", http.StatusOK, time.Minute)
	placeAndWait(t, s.engines(t, admin.Options{}), shop.Order{ID: "names-1", Items: []shop.Item{{SKU: "pen", Quantity: 1}}})

	var text string
	teststack.Eventually(t, 20*time.Second, 200*time.Millisecond, func() error {
		_, text = get(t, "http://"+addr+"/metrics")
		if missing := absent(text, upstreamSDKNames); len(missing) > 0 {
			return fmt.Errorf("no series of %v; the worker exports %v", missing, familyNames(scrape(t, addr), "temporal_"))
		}
		if sum(scrape(t, addr), telemetry.MetricSagas, map[string]string{"engine": telemetry.EngineOrchestration}) < 1 {
			return fmt.Errorf("no %s of the orchestration", telemetry.MetricSagas)
		}
		return nil
	})
	fams := scrape(t, addr)
	for name, f := range fams {
		if strings.HasPrefix(name, "temporal_") && strings.HasSuffix(name, "_total") {
			t.Errorf("%s: an SDK counter with _total, which the upstream dashboard does not query", name)
		}
		if strings.HasPrefix(name, "ordersaga_") && f.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total") {
			t.Errorf("%s: a project counter without _total", name)
		}
	}
	for _, name := range []string{"temporal_request", "temporal_workflow_completed"} {
		if f := fams[name]; f.GetType() != dto.MetricType_COUNTER {
			t.Errorf("%s is a %v, want a counter", name, f.GetType())
		}
	}
}

// absent lists the names of which the exposition text has no series.
func absent(text string, names []string) []string {
	var out []string
	for _, n := range names {
		if !regexp.MustCompile(`(?m)^` + n + `[{ ]`).MatchString(text) {
			out = append(out, n)
		}
	}
	return out
}

// familyNames lists the families whose name starts with prefix.
func familyNames(fams map[string]*dto.MetricFamily, prefix string) []string {
	var out []string
	for name := range fams {
		if strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
