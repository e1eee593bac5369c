// Package telemetry makes the worker and the starter observable: one
// Prometheus registry that gathers the Temporal SDK's metrics (under the
// names Temporal's Go SDK dashboard for OpenTelemetry reads) and the
// project's own (prefixed ordersaga_), an HTTP server for /metrics,
// /healthz and /readyz, OpenTelemetry tracing exported over OTLP when the
// standard environment variables ask for it, and the W3C trace context
// helpers the choreography's event envelope uses.
//
// Everything is off unless configured: a nil *Metrics records nothing, and
// without an OTLP endpoint there is no tracer provider, so the hot paths
// pay a nil check.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// ScopeName names the project's meter and tracer.
const ScopeName = "github.com/ordersaga/ordersaga"

// Prefix begins the name of every series of the project's own.
const Prefix = "ordersaga_"

// The project's metric names as Prometheus shows them. The instruments are
// created without the suffixes (_total, _seconds), which the exporter adds.
const (
	// MetricEventsHandled counts events a choreography service handled, by
	// service, event_type and result (ResultOK, ResultRetry, ResultPoison).
	MetricEventsHandled = "ordersaga_events_handled_total"
	// MetricHandlerDuration is a histogram of one handler run, by service and event_type.
	MetricHandlerDuration = "ordersaga_event_handler_duration_seconds"
	// MetricRedeliveries counts entries delivered again after a failed
	// handler run or a reclaim, by group (the service) and stream.
	MetricRedeliveries = "ordersaga_redeliveries_total"
	// MetricDeadLetters counts entries moved to the dead-letter stream, by group and stream.
	MetricDeadLetters = "ordersaga_dead_letters_total"
	// MetricGroupPending is the number of entries a consumer group has read
	// and not acked yet, by group and stream.
	MetricGroupPending = "ordersaga_stream_group_pending"
	// MetricGroupLag is the number of entries of a stream its group has not
	// read yet, by group and stream.
	MetricGroupLag = "ordersaga_stream_group_lag"
	// MetricSagas counts finished sagas by engine and outcome (COMPLETED,
	// COMPENSATED, FAILED).
	MetricSagas = "ordersaga_sagas_total"
	// MetricSagaDuration is a histogram of a saga's time from placement to
	// its terminal state, by engine and outcome.
	MetricSagaDuration = "ordersaga_saga_duration_seconds"
	// MetricCompensations counts the steps finished sagas compensated, by engine and step.
	MetricCompensations = "ordersaga_compensations_total"
	// MetricCompensationsRetrying counts the orchestration's compensations
	// that went on retrying past the alert threshold, by engine and op.
	MetricCompensationsRetrying = "ordersaga_compensations_retrying_total"
	// MetricOrdersCompensating is the number of orders COMPENSATING now
	// (their compensation has been retrying past the alert threshold), by
	// engine and op: the choreography's, read at each scrape.
	MetricOrdersCompensating = "ordersaga_orders_compensating"
)

// Results of a handler run (the result label of MetricEventsHandled).
const (
	ResultOK     = "ok"     // committed and acked
	ResultRetry  = "retry"  // failed; the entry stays pending for a redelivery
	ResultPoison = "poison" // can never be processed; dead-lettered at once
)

// latencyBuckets are the histogram bounds, in seconds, of every duration
// the worker records (the Temporal SDK's timers included): from half a
// millisecond (a choreography handler) to a minute (a saga that retried).
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Metrics is one process's metrics. Its methods do nothing on a nil *Metrics.
type Metrics struct {
	// Registry gathers everything /metrics serves.
	Registry *prometheus.Registry
	provider *sdkmetric.MeterProvider
	meter    metric.Meter
	// sdk exports the Temporal SDK's series into Registry without the
	// exporter's suffixes (see SDKMeter).
	sdk *sdkmetric.MeterProvider

	handled         metric.Int64Counter
	handlerDuration metric.Float64Histogram
	redeliveries    metric.Int64Counter
	deadLetters     metric.Int64Counter

	mu    sync.RWMutex
	attrs map[attrKey]metric.MeasurementOption
}

// attrKey is an instrument (kind) and a label combination whose attribute
// set is built once.
type attrKey struct {
	kind    byte
	a, b, c string
}

// NewMetrics returns a registry with the Go runtime's and the process's
// collectors, and two OpenTelemetry meter providers exporting into it: the
// project's and the Temporal SDK's.
func NewMetrics() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	seconds := sdkmetric.NewView(
		sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram, Unit: "s"},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: latencyBuckets}},
	)
	provider, err := exportInto(reg, otlptranslator.UnderscoreEscapingWithSuffixes, seconds)
	if err != nil {
		return nil, err
	}
	sdk, err := exportInto(reg, otlptranslator.UnderscoreEscapingWithoutSuffixes, sdkSeconds)
	if err != nil {
		return nil, err
	}
	m := &Metrics{Registry: reg, provider: provider, meter: provider.Meter(ScopeName), sdk: sdk, attrs: map[attrKey]metric.MeasurementOption{}}
	var errs [4]error
	m.handled, errs[0] = m.meter.Int64Counter("ordersaga_events_handled", metric.WithDescription("Events a choreography service handled, by result."))
	m.handlerDuration, errs[1] = m.meter.Float64Histogram("ordersaga_event_handler_duration", metric.WithUnit("s"),
		metric.WithDescription("How long one handler run of a choreography service took."))
	m.redeliveries, errs[2] = m.meter.Int64Counter("ordersaga_redeliveries", metric.WithDescription("Stream entries delivered again."))
	m.deadLetters, errs[3] = m.meter.Int64Counter("ordersaga_dead_letters", metric.WithDescription("Stream entries moved to the dead-letter stream."))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("metrics instruments: %w", err)
	}
	return m, nil
}

// exportInto returns a meter provider whose series reg gathers, named
// by strategy, with view.
func exportInto(reg prometheus.Registerer, strategy otlptranslator.TranslationStrategyOption, view sdkmetric.View) (*sdkmetric.MeterProvider, error) {
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo(),
		otelprom.WithTranslationStrategy(strategy))
	if err != nil {
		return nil, fmt.Errorf("metrics exporter: %w", err)
	}
	return sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithView(view)), nil
}

// sdkSeconds gives the Temporal SDK's timers (histograms in seconds) the
// buckets of every duration and the _seconds their exporter, which adds no
// suffix, leaves out: temporal_request_latency_seconds, while its counters
// keep the SDK's names (temporal_request, not temporal_request_total).
func sdkSeconds(i sdkmetric.Instrument) (sdkmetric.Stream, bool) {
	if i.Kind != sdkmetric.InstrumentKindHistogram || i.Unit != "s" {
		return sdkmetric.Stream{}, false
	}
	return sdkmetric.Stream{Name: i.Name + "_seconds", Description: i.Description, Unit: i.Unit,
		Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: latencyBuckets}}, true
}

// Meter is the meter the project's series (named Prefix…) are recorded
// with, the orchestration's through the Temporal SDK's metrics handler
// (see workflows.MetricsHandler); nil without metrics.
func (m *Metrics) Meter() metric.Meter {
	if m == nil {
		return nil
	}
	return m.meter
}

// SDKMeter is the meter the Temporal SDK's own series are recorded with.
// They are exported under the SDK's names, as Temporal's dashboard for the
// Go SDK with OpenTelemetry queries them: counters without _total
// (temporal_workflow_completed), timers with _seconds
// (temporal_activity_execution_latency_seconds). Nil without metrics.
func (m *Metrics) SDKMeter() metric.Meter {
	if m == nil {
		return nil
	}
	return m.sdk.Meter("go.temporal.io/sdk")
}

// Shutdown stops the meter providers.
func (m *Metrics) Shutdown(ctx context.Context) error {
	if m == nil {
		return nil
	}
	return errors.Join(m.provider.Shutdown(ctx), m.sdk.Shutdown(ctx))
}

// option returns the measurement option of a label combination, built on
// first use, so recording allocates nothing after warm-up.
func (m *Metrics) option(k attrKey, build func() attribute.Set) metric.MeasurementOption {
	m.mu.RLock()
	o, ok := m.attrs[k]
	m.mu.RUnlock()
	if ok {
		return o
	}
	o = metric.WithAttributeSet(build())
	m.mu.Lock()
	m.attrs[k] = o
	m.mu.Unlock()
	return o
}

// EventHandled records one handler run of a choreography service.
func (m *Metrics) EventHandled(service, eventType, result string, took time.Duration) {
	if m == nil {
		return
	}
	ctx := context.Background()
	m.handled.Add(ctx, 1, m.option(attrKey{'h', service, eventType, result}, func() attribute.Set {
		return attribute.NewSet(attribute.String("service", service), attribute.String("event_type", eventType), attribute.String("result", result))
	}))
	m.handlerDuration.Record(ctx, took.Seconds(), m.option(attrKey{'d', service, eventType, ""}, func() attribute.Set {
		return attribute.NewSet(attribute.String("service", service), attribute.String("event_type", eventType))
	}))
}

// Redelivered records that group got an entry of stream once more.
func (m *Metrics) Redelivered(group, stream string) {
	if m == nil {
		return
	}
	m.redeliveries.Add(context.Background(), 1, m.groupOption(group, stream))
}

// DeadLettered records that group moved an entry of stream to the dead-letter stream.
func (m *Metrics) DeadLettered(group, stream string) {
	if m == nil {
		return
	}
	m.deadLetters.Add(context.Background(), 1, m.groupOption(group, stream))
}

func (m *Metrics) groupOption(group, stream string) metric.MeasurementOption {
	return m.option(attrKey{'g', group, stream, ""}, func() attribute.Set {
		return attribute.NewSet(attribute.String("group", group), attribute.String("stream", stream))
	})
}
