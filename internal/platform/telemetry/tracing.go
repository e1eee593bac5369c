package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// The standard OpenTelemetry environment variables tracing reads (the
// exporters read the rest: headers, TLS, timeouts).
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	EnvTracesExporter = "OTEL_TRACES_EXPORTER"
	EnvSDKDisabled    = "OTEL_SDK_DISABLED"
	EnvServiceName    = "OTEL_SERVICE_NAME"
)

// Tracing is the tracer provider of a process that exports spans.
type Tracing struct {
	// Provider makes the process's tracers.
	Provider *sdktrace.TracerProvider
}

// TracingFromEnv returns the tracing the environment asks for: spans go
// over OTLP (http/protobuf by default, or grpc) when
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is
// set, unless OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. It
// returns nil when nothing is to be exported: then no span is made at all.
// The provider becomes OpenTelemetry's global one, with the W3C trace
// context and baggage as the propagators. service names the process
// (OTEL_SERVICE_NAME overrides it). A failed export is logged by slog's
// default logger (see TracingFromEnvLog).
func TracingFromEnv(ctx context.Context, service string) (*Tracing, error) {
	return TracingFromEnvLog(ctx, service, nil)
}

// TracingFromEnvLog is TracingFromEnv that logs a failed export on log (nil:
// slog's default logger), so the warning comes in the process's log format.
func TracingFromEnvLog(ctx context.Context, service string, log *slog.Logger) (*Tracing, error) {
	if !tracingWanted() {
		return nil, nil
	}
	exp, err := exporterFromEnv(ctx)
	if err != nil {
		return nil, err
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		l := log
		if l == nil {
			l = slog.Default()
		}
		l.Warn("telemetry export failed", "err", err)
	}))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return &Tracing{Provider: tp}, nil
}

func tracingWanted() bool {
	if strings.EqualFold(os.Getenv(EnvSDKDisabled), "true") {
		return false
	}
	if e := strings.TrimSpace(os.Getenv(EnvTracesExporter)); e != "" && !strings.EqualFold(e, "otlp") {
		return false // "none", or an exporter this project does not ship
	}
	return os.Getenv(EnvTracesEndpoint) != "" || os.Getenv(EnvEndpoint) != ""
}

func exporterFromEnv(ctx context.Context) (*otlptrace.Exporter, error) {
	protocol := os.Getenv(EnvTracesProtocol)
	if protocol == "" {
		protocol = os.Getenv(EnvProtocol)
	}
	var (
		exp *otlptrace.Exporter
		err error
	)
	switch protocol {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("%s=%q: want http/protobuf or grpc", EnvProtocol, protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	return exp, nil
}

// TracerProvider is the provider, nil when t is.
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t == nil {
		return nil
	}
	return t.Provider
}

// Shutdown exports the spans still buffered and stops the provider.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.Provider.Shutdown(ctx)
}
