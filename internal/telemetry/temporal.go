package telemetry

import (
	"fmt"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// TemporalTracing returns the Temporal SDK's OpenTelemetry interceptor over
// tp, for client.Options.Interceptors: on a client it starts a span for
// each workflow it starts and passes it in the workflow's header; on a
// worker (a client's interceptors are the worker's too) it continues that
// trace with the workflow's and each activity's spans. Queries are not
// traced: waiting for an order asks often and would bury its story.
func TemporalTracing(tp trace.TracerProvider) (interceptor.Interceptor, error) {
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
