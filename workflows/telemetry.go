package workflows

import (
	"fmt"
	"time"

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
// series and OrderSaga's saga series land in the same registry. Nil without
// metrics.
func MetricsHandler(m *telemetry.Metrics) client.MetricsHandler {
	if m == nil {
		return nil
	}
	return temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:                m.Meter(),
		UseMonotonicCounters: true,
		OnError:              func(error) {}, // a bad instrument records nothing rather than panicking
	})
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
