package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/internal/platform/telemetry"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
)

// stack is a Redis and a Temporal dev server for a worker run in-process.
type stack struct {
	redis    *testenv.RedisServer
	temporal *testenv.TemporalServer
}

func startStack(t *testing.T) stack {
	t.Helper()
	return stack{redis: testenv.StartRedis(t), temporal: testenv.StartTemporal(t)}
}

func (s stack) args(extra ...string) []string {
	return append([]string{"--redis-url", s.redis.URL(), "--temporal-address", s.temporal.Address,
		"--log-level", "error", "--claim-idle", "1s"}, extra...)
}

// engines opens both engines the way the starter does.
func (s stack) engines(t *testing.T, opts admin.Options) *admin.EngineSet {
	t.Helper()
	cfg := config.FromEnv()
	cfg.RedisURL, cfg.RedisClusterURL, cfg.TemporalAddress = s.redis.URL(), "", s.temporal.Address
	eng, err := admin.Open(context.Background(), cfg, shop.Modes, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	return eng
}

// startWorker runs the worker in-process until the test ends.
func startWorker(t *testing.T, run func(ctx context.Context) error) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("worker: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("worker did not stop")
		}
	})
}

// placeAndWait places o on both engines and returns the outcomes.
func placeAndWait(t *testing.T, eng *admin.EngineSet, o shop.Order) map[shop.Mode]shop.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	placed, err := eng.PlaceAll(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	eng.WaitAll(ctx, o.ID, placed)
	out := map[shop.Mode]shop.Outcome{}
	for _, p := range placed {
		if p.Err != nil {
			t.Fatalf("%s: order %s: %v %v", p.Mode, o.ID, p.Err, p.Why)
		}
		out[p.Mode] = p.Outcome
	}
	return out
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitStatus polls url until it answers want.
func waitStatus(t *testing.T, url string, want int, within time.Duration) {
	t.Helper()
	teststack.Eventually(t, within, 100*time.Millisecond, func() error {
		if code, body := get(t, url); code != want {
			return fmt.Errorf("%s answered %d %q for %s, want %d", url, code, body, within, want)
		}
		return nil
	})
}

func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics answered %d: %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// sum adds the values of a counter's series whose labels include match.
func sum(fams map[string]*dto.MetricFamily, name string, match map[string]string) float64 {
	var total float64
	for _, m := range matching(fams[name], match) {
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

// matching returns the series of f whose labels include match.
func matching(f *dto.MetricFamily, match map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for k, v := range match {
			ok = ok && labels[k] == v
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

// TestMetricsAndReadiness runs every service of the worker in one process
// with --metrics-addr against real servers, places orders on both engines
// (one completed, one with a declined payment, one with a transient charge
// failure) and a poison entry, and reads /metrics: the SDK's temporal_…
// series and the project's, with handled events, compensations, sagas per
// engine, redeliveries and dead letters counted. /readyz answers 200, then
// 503 once Redis is stopped.
func TestMetricsAndReadiness(t *testing.T) {
	s := startStack(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	startWorker(t, func(ctx context.Context) error { return run(ctx, s.args("--metrics-addr", addr)) })
	waitStatus(t, "http://"+addr+"/readyz", http.StatusOK, time.Minute)
	if code, body := get(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d %s", code, body)
	}

	eng := s.engines(t, admin.Options{})
	injectPoison(t, eng.Redis)
	orders := []shop.Order{
		{ID: "m-ok", Items: []shop.Item{{SKU: "pen", Quantity: 1}}},
		{ID: "m-declined", Items: []shop.Item{{SKU: "pen", Quantity: 1}}, Faults: shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultDecline}}},
		{ID: "m-transient", Items: []shop.Item{{SKU: "pen", Quantity: 1}}, Faults: shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultTransient, Attempts: 1}}},
		{ID: "m-failed", Items: []shop.Item{{SKU: "pen", Quantity: 1}},
			Faults: shop.FaultPlan{shop.OpSchedule: {Kind: shop.FaultDecline}, shop.OpRefund: {Kind: shop.FaultDecline}}},
	}
	for _, o := range orders {
		for mode, out := range placeAndWait(t, eng, o) {
			if want := wantStatus(o); out.Status != want {
				t.Fatalf("%s: order %s %s, want %s", mode, o.ID, out.Status, want)
			}
		}
	}
	fams := waitMetrics(t, addr)
	checkMetrics(t, fams)

	if err := telemetry.Probe(context.Background(), addr, "/readyz"); err != nil {
		t.Fatalf("worker healthcheck while ready: %v", err)
	}
	s.redis.Stop()
	waitStatus(t, "http://"+addr+"/readyz", http.StatusServiceUnavailable, 15*time.Second)
	if code, body := get(t, "http://"+addr+"/readyz"); !strings.Contains(body, "redis") {
		t.Errorf("/readyz with Redis stopped: %d %q, want it to name redis", code, body)
	}
	if err := healthcheck(context.Background(), []string{"--addr", addr}); err == nil {
		t.Error("worker healthcheck passed with Redis stopped")
	}
	if err := healthcheck(context.Background(), []string{"--addr", addr, "--live"}); err != nil {
		t.Errorf("worker healthcheck --live with Redis stopped: %v; the process is alive", err)
	}
}

func wantStatus(o shop.Order) shop.Status {
	if _, ok := o.Faults[shop.OpRefund]; ok {
		return shop.StatusFailed
	}
	if f, ok := o.Faults[shop.OpCharge]; ok && f.Kind == shop.FaultDecline {
		return shop.StatusCompensated
	}
	return shop.StatusCompleted
}

// waitMetrics scrapes until the counts of the orders placed have arrived
// (the order service counts a saga after Wait may have seen it end).
func waitMetrics(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	var fams map[string]*dto.MetricFamily
	// Whatever has arrived after 20 s is returned: checkMetrics says what lacks.
	_ = poll.For(context.Background(), 20*time.Second, poll.Every(200*time.Millisecond), func(context.Context) (bool, error) {
		fams = scrape(t, addr)
		return sum(fams, telemetry.MetricSagas, map[string]string{"engine": telemetry.EngineChoreography}) >= 4 &&
			sum(fams, telemetry.MetricSagas, map[string]string{"engine": telemetry.EngineOrchestration}) >= 4 &&
			sum(fams, telemetry.MetricDeadLetters, nil) >= 1, nil
	})
	return fams
}

func checkMetrics(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	var temporal []string
	for name := range fams {
		if strings.HasPrefix(name, "temporal_") {
			temporal = append(temporal, name)
		}
	}
	if len(temporal) == 0 {
		t.Error("no temporal_… series: the SDK's metrics are not exported")
	}
	for _, c := range []struct {
		name  string
		match map[string]string
		min   float64
	}{
		{"temporal_workflow_completed", nil, 3}, // the FAILED order's workflow waits for a repair
		{"temporal_activity_execution_failed", nil, 1},
		{telemetry.MetricEventsHandled, map[string]string{"result": telemetry.ResultOK}, 10},
		{telemetry.MetricEventsHandled, map[string]string{"service": choreography.ServicePayment, "result": telemetry.ResultRetry}, 1},
		{telemetry.MetricEventsHandled, map[string]string{"result": telemetry.ResultPoison}, 1},
		{telemetry.MetricHandlerDuration, map[string]string{"service": choreography.ServiceInventory, "event_type": string(choreography.OrderPlaced)}, 3},
		{telemetry.MetricRedeliveries, map[string]string{"group": choreography.ServicePayment}, 1},
		{telemetry.MetricDeadLetters, map[string]string{"group": choreography.ServicePayment}, 2},
		{telemetry.MetricSagas, map[string]string{"engine": telemetry.EngineOrchestration, "outcome": string(shop.StatusCompleted)}, 2},
		{telemetry.MetricSagas, map[string]string{"engine": telemetry.EngineChoreography, "outcome": string(shop.StatusCompensated)}, 1},
		{telemetry.MetricSagas, map[string]string{"engine": telemetry.EngineOrchestration, "outcome": string(shop.StatusFailed)}, 1},
		{telemetry.MetricSagas, map[string]string{"engine": telemetry.EngineChoreography, "outcome": string(shop.StatusFailed)}, 1},
		{telemetry.MetricSagaDuration, map[string]string{"engine": telemetry.EngineChoreography}, 4},
		{telemetry.MetricSagaDuration, map[string]string{"engine": telemetry.EngineOrchestration}, 4},
		{telemetry.MetricCompensations, map[string]string{"engine": telemetry.EngineOrchestration, "step": string(shop.StepInventory)}, 1},
		{telemetry.MetricCompensations, map[string]string{"engine": telemetry.EngineChoreography, "step": string(shop.StepInventory)}, 1},
	} {
		if got := sum(fams, c.name, c.match); got < c.min {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.match, got, c.min)
		}
	}
	for _, op := range []shop.Op{shop.OpRelease, shop.OpRefund} {
		// None is retrying now; the series are there, at 0, for an alert on them.
		ms := matching(fams[telemetry.MetricOrdersCompensating], map[string]string{"engine": telemetry.EngineChoreography, "op": string(op)})
		if len(ms) != 1 || ms[0].GetGauge() == nil || ms[0].GetGauge().GetValue() != 0 {
			t.Errorf("%s{engine=choreography, op=%s}: %v, want one series at 0", telemetry.MetricOrdersCompensating, op, ms)
		}
	}
	for _, g := range []string{telemetry.MetricGroupPending, telemetry.MetricGroupLag} {
		if fams[g] == nil || len(fams[g].GetMetric()) == 0 {
			t.Errorf("no %s series", g)
		}
	}
}

// injectPoison adds to the inventory stream an entry no service can decode
// and one whose payload contradicts its envelope, both of a type the
// payment service reacts to (the order service skips them unread): the
// payment group dead-letters the first at once, its handler refuses the
// second (poison), which is dead-lettered too.
func injectPoison(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	s := choreography.NewBus(rdb).StreamOf(0, choreography.ServiceInventory)
	for _, ev := range []string{"{not json",
		`{"id":"x","type":"InventoryReserved","order_id":"p2","version":1,"payload":{"order":{"id":"other"}}}`} {
		if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: s, Values: []any{"type", "InventoryReserved", "event", ev}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHealthcheckUsage: the health check needs an address; the worker
// refuses a bad --metrics-addr or --log-format before starting anything.
func TestHealthcheckUsage(t *testing.T) {
	t.Setenv(EnvMetricsAddr, "")
	if err := healthcheck(context.Background(), nil); !errors.Is(err, errUsage) {
		t.Errorf("healthcheck without an address: %v, want a usage error", err)
	}
	if err := healthcheck(context.Background(), []string{"--addr", "127.0.0.1:1"}); err == nil || errors.Is(err, errUsage) {
		t.Errorf("healthcheck of nothing: %v, want it to fail", err)
	}
	for _, bad := range [][]string{{"--metrics-addr", "9464"}, {"--log-format", "xml"}} {
		if _, err := parse(bad); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", bad, err)
		}
	}
	t.Setenv(EnvMetricsAddr, "127.0.0.1:9464")
	if o, err := parse(nil); err != nil || o.metricsAddr != "127.0.0.1:9464" || o.logFormat != "text" {
		t.Errorf("defaults: %+v %v", o, err)
	}
}
