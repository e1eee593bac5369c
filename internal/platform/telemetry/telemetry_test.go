package telemetry_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ordersaga/ordersaga/internal/platform/telemetry"
	"github.com/ordersaga/ordersaga/shop"
)

func TestTraceContextRoundTrip(t *testing.T) {
	if p, s := telemetry.TraceContextOf(context.Background()); p != "" || s != "" {
		t.Fatalf("no span: %q %q, want nothing", p, s)
	}
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ctx, parent := tp.Tracer("t").Start(context.Background(), "parent")
	p, _ := telemetry.TraceContextOf(ctx)
	if !strings.HasPrefix(p, "00-"+parent.SpanContext().TraceID().String()+"-"+parent.SpanContext().SpanID().String()) {
		t.Fatalf("traceparent %q does not name the span", p)
	}
	parent.End()
	_, child := tp.Tracer("t").Start(telemetry.WithRemoteParent(context.Background(), p, ""), "child")
	child.End()
	spans := exp.GetSpans()
	if len(spans) != 2 || spans[1].Parent.SpanID() != parent.SpanContext().SpanID() || !spans[1].Parent.IsRemote() {
		t.Fatalf("child's parent %v, want the remote %v", spans[1].Parent, parent.SpanContext())
	}
	for _, bad := range []string{"", "nonsense", "00-zz-yy-01"} {
		ctx := telemetry.WithRemoteParent(context.Background(), bad, "")
		if p, _ := telemetry.TraceContextOf(ctx); p != "" {
			t.Errorf("traceparent %q gave a parent %q", bad, p)
		}
	}
}

func TestTracingFromEnv(t *testing.T) {
	for _, k := range []string{telemetry.EnvEndpoint, telemetry.EnvTracesEndpoint, telemetry.EnvProtocol, telemetry.EnvTracesProtocol, telemetry.EnvTracesExporter, telemetry.EnvSDKDisabled} {
		t.Setenv(k, "")
	}
	ctx := context.Background()
	if tr, err := telemetry.TracingFromEnv(ctx, "x"); tr != nil || err != nil {
		t.Fatalf("no endpoint: %v %v, want no tracing", tr, err)
	}
	t.Setenv(telemetry.EnvEndpoint, "http://127.0.0.1:1")
	t.Setenv(telemetry.EnvTracesExporter, "none")
	if tr, _ := telemetry.TracingFromEnv(ctx, "x"); tr != nil {
		t.Fatal("OTEL_TRACES_EXPORTER=none: tracing on")
	}
	t.Setenv(telemetry.EnvTracesExporter, "")
	t.Setenv(telemetry.EnvProtocol, "http/json")
	if _, err := telemetry.TracingFromEnv(ctx, "x"); err == nil || !strings.Contains(err.Error(), "http/protobuf or grpc") {
		t.Fatalf("unknown protocol: %v", err)
	}
	for _, proto := range []string{"", "grpc"} {
		t.Setenv(telemetry.EnvProtocol, proto)
		tr, err := telemetry.TracingFromEnv(ctx, "x")
		if err != nil || tr == nil || tr.TracerProvider() == nil {
			t.Fatalf("protocol %q: %v %v", proto, tr, err)
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		_ = tr.Shutdown(sctx)
		cancel()
	}
}

func TestHealthAndProbe(t *testing.T) {
	h := telemetry.NewHealth()
	m, err := telemetry.NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := telemetry.Listen("127.0.0.1:0", m.Registry, h)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	if err := telemetry.Probe(ctx, srv.Addr(), "/healthz"); err != nil {
		t.Fatalf("healthz: %v", err)
	}
	if err := telemetry.Probe(ctx, srv.Addr(), "/readyz"); err == nil || !strings.Contains(err.Error(), "starting") {
		t.Fatalf("readyz before Started: %v, want 503 starting", err)
	}
	down := errors.New("connection refused")
	var broken atomic.Bool
	h.Add("redis", func(context.Context) error {
		if broken.Load() {
			return down
		}
		return nil
	})
	h.Started()
	if err := telemetry.Probe(ctx, srv.Addr(), "/readyz"); err != nil {
		t.Fatalf("readyz: %v", err)
	}
	broken.Store(true)
	if err := telemetry.Probe(ctx, srv.Addr(), "/readyz"); err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "redis: connection refused") {
		t.Fatalf("readyz with redis down: %v", err)
	}
	port := srv.Addr()[strings.LastIndex(srv.Addr(), ":"):]
	if err := telemetry.Probe(ctx, "0.0.0.0"+port, "/healthz"); err != nil {
		t.Errorf("an address on every interface is asked on the loopback: %v", err)
	}
	if _, err := telemetry.Listen(srv.Addr(), nil, h); err == nil {
		t.Error("a busy address was taken")
	}
	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestConsumersCheck(t *testing.T) {
	c := telemetry.NewConsumers(nil)
	check := c.Check("payment", "order")
	if err := check(context.Background()); err == nil || !strings.Contains(err.Error(), "order: has not read") {
		t.Fatalf("before any read: %v", err)
	}
	c.Read("payment", []string{"s1"}, nil)
	c.Read("order", []string{"s2"}, nil)
	if err := check(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Read("order", []string{"s2"}, errors.New("i/o timeout"))
	if err := check(context.Background()); err == nil || !strings.Contains(err.Error(), "order on s2: last read failed: i/o timeout") {
		t.Fatalf("after a failed read: %v", err)
	}
	c.Redelivered("order", "s2", 2) // a nil *Metrics counts nothing, and does not panic
	c.DeadLettered("order", "s2", "poison")
}

// TestNilMetricsRecordNothing: with metrics off, recording is a no-op.
func TestNilMetricsRecordNothing(t *testing.T) {
	var m *telemetry.Metrics
	m.EventHandled("order", "X", telemetry.ResultOK, time.Millisecond)
	m.Redelivered("g", "s")
	m.DeadLettered("g", "s")
	if m.Meter() != nil || m.SDKMeter() != nil || m.ObserveGroups(nil) != nil || m.ObserveCompensating(telemetry.EngineChoreography, nil) != nil || m.Shutdown(context.Background()) != nil {
		t.Fatal("a nil *Metrics did something")
	}
	m.RecordSaga(telemetry.EngineChoreography, shop.Outcome{Status: shop.StatusCompleted}, time.Second)
}

// TestSDKMeterNames: the Temporal SDK's series keep its names, counters
// without _total, timers in seconds with the buckets of every duration,
// while the project's, in the same registry, get the usual suffixes.
func TestSDKMeterNames(t *testing.T) {
	m, err := telemetry.NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	ctx, sdk := context.Background(), m.SDKMeter()
	for _, name := range []string{"temporal_request", "temporal_sticky_cache_total_forced_eviction"} {
		c, _ := sdk.Int64Counter(name)
		c.Add(ctx, 1)
	}
	h, _ := sdk.Float64Histogram("temporal_request_latency", metric.WithUnit("s"))
	h.Record(ctx, 0.002)
	g, _ := sdk.Float64Gauge("temporal_num_pollers")
	g.Record(ctx, 2)
	m.RecordSaga(telemetry.EngineChoreography, shop.Outcome{Status: shop.StatusCompleted}, time.Second)
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "go_") && !strings.HasPrefix(f.GetName(), "process_") {
			got[f.GetName()] = f.GetType().String()
		}
		if f.GetName() == "temporal_request_latency_seconds" {
			if n := len(f.GetMetric()[0].GetHistogram().GetBucket()); n != 16 {
				t.Errorf("temporal_request_latency_seconds has %d buckets, want the 16 of every duration", n)
			}
		}
	}
	want := map[string]string{"temporal_request": "COUNTER", "temporal_sticky_cache_total_forced_eviction": "COUNTER",
		"temporal_request_latency_seconds": "HISTOGRAM", "temporal_num_pollers": "GAUGE",
		telemetry.MetricSagas: "COUNTER", telemetry.MetricSagaDuration: "HISTOGRAM"}
	if !maps.Equal(got, want) {
		t.Errorf("series %v, want %v", got, want)
	}
}

// TestObserveCompensating: each scrape reports what the reader counts now,
// one series per op of the engine, zeros included; a scrape whose read
// fails reports no series.
func TestObserveCompensating(t *testing.T) {
	m, err := telemetry.NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[shop.Op]int{shop.OpRefund: 2, shop.OpRelease: 0}
	var readErr error
	if err := m.ObserveCompensating(telemetry.EngineChoreography, func(context.Context) (map[shop.Op]int, error) {
		return counts, readErr
	}); err != nil {
		t.Fatal(err)
	}
	gauge := func() map[string]float64 {
		fams, err := m.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, f := range fams {
			if f.GetName() != telemetry.MetricOrdersCompensating {
				continue
			}
			for _, s := range f.GetMetric() {
				var labels []string
				for _, l := range s.GetLabel() {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
				got[strings.Join(labels, ",")] = s.GetGauge().GetValue()
			}
		}
		return got
	}
	want := map[string]float64{"engine=choreography,op=refund": 2, "engine=choreography,op=release": 0}
	if got := gauge(); !maps.Equal(got, want) {
		t.Errorf("gauge %v, want %v", got, want)
	}
	counts = map[shop.Op]int{shop.OpRefund: 0, shop.OpRelease: 1}
	want = map[string]float64{"engine=choreography,op=refund": 0, "engine=choreography,op=release": 1}
	if got := gauge(); !maps.Equal(got, want) {
		t.Errorf("gauge after the counts changed %v, want %v", got, want)
	}
	readErr = errors.New("redis down")
	if got := gauge(); len(got) != 0 {
		t.Errorf("gauge when the read fails %v, want no series", got)
	}
}

// BenchmarkEventHandled measures the cost a handler run adds with metrics on.
func BenchmarkEventHandled(b *testing.B) {
	m, err := telemetry.NewMetrics()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.EventHandled("payment", "InventoryReserved", telemetry.ResultOK, time.Millisecond)
	}
}
