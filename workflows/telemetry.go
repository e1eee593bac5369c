package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"

	"github.com/ordersaga/ordersaga/internal/platform/telemetry"
	"github.com/ordersaga/ordersaga/shop"
)

// MetricsHandler is the Temporal SDK's metrics handler over the process's
// metrics, for client.Options.MetricsHandler: the SDK's own temporal_…
// series and OrderSaga's saga series land in the same registry, the
// SDK's on m.SDKMeter (under the names Temporal's Go SDK dashboard reads),
// OrderSaga's on m.Meter with the project's other series. Nil without
// metrics.
func MetricsHandler(m *telemetry.Metrics) client.MetricsHandler {
	if m == nil {
		return nil
	}
	on := func(meter metric.Meter) client.MetricsHandler {
		return temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
			Meter:                meter,
			UseMonotonicCounters: true,
			OnError:              func(error) {}, // a bad instrument records nothing rather than panicking
		})
	}
	return splitHandler{sdk: on(m.SDKMeter()), own: on(m.Meter())}
}

// splitHandler records the project's series (named telemetry.Prefix…) on
// own and every other, the SDK's, on sdk, both with the same tags.
type splitHandler struct{ sdk, own client.MetricsHandler }

func (h splitHandler) WithTags(tags map[string]string) client.MetricsHandler {
	return splitHandler{sdk: h.sdk.WithTags(tags), own: h.own.WithTags(tags)}
}

func (h splitHandler) Counter(name string) client.MetricsCounter { return h.on(name).Counter(name) }
func (h splitHandler) Gauge(name string) client.MetricsGauge     { return h.on(name).Gauge(name) }
func (h splitHandler) Timer(name string) client.MetricsTimer     { return h.on(name).Timer(name) }

// Unwrap is the SDK's handler, for temporalotel.ExtractMetricsHandler.
func (h splitHandler) Unwrap() client.MetricsHandler { return h.sdk }

func (h splitHandler) on(name string) client.MetricsHandler {
	if strings.HasPrefix(name, telemetry.Prefix) {
		return h.own
	}
	return h.sdk
}

// TracingInterceptor returns the Temporal SDK's OpenTelemetry interceptor
// over tp, for client.Options.Interceptors: on a client it starts a span
// for each workflow it starts and passes it in the workflow's header; on a
// worker (a client's interceptors are the worker's too) it continues that
// trace with the workflow's and each activity's spans. Queries are not
// traced: waiting for an order asks often and would bury its story.
func TracingInterceptor(tp trace.TracerProvider) (interceptor.Interceptor, error) {
	i, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
		Tracer:              tp.Tracer("temporal-sdk-go"),
		TextMapPropagator:   propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		DisableQueryTracing: true,
	})
	if err != nil {
		return nil, fmt.Errorf("temporal tracing interceptor: %w", err)
	}
	return i, nil
}

// recordSagaOn records a saga's end on h, a Temporal metrics handler
// (inside a workflow, workflow.GetMetricsHandler, which records nothing on
// replay), under the names telemetry.Metrics.RecordSaga uses.
func recordSagaOn(h client.MetricsHandler, out shop.Outcome, took time.Duration) {
	if h == nil {
		return
	}
	engine := telemetry.EngineOrchestration
	tagged := h.WithTags(map[string]string{"engine": engine, "outcome": string(out.Status)})
	tagged.Counter(telemetry.SagasName).Inc(1)
	tagged.Timer(telemetry.SagaDurationName).Record(took)
	for _, st := range out.Compensated {
		h.WithTags(map[string]string{"engine": engine, "step": string(st)}).Counter(telemetry.CompensationsName).Inc(1)
	}
}
