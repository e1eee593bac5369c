package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/interceptor"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/internal/platform/telemetry"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// observability is what a worker process exports: metrics and health on
// --metrics-addr, spans to the tracer provider. Each part is nil when off.
type observability struct {
	tracing *telemetry.Tracing   // the provider this process made, if any
	tp      trace.TracerProvider // where spans go; nil: no spans
	metrics *telemetry.Metrics   // nil: no metrics
	health  *telemetry.Health    // always set, served only with metrics
	server  *telemetry.Server    // nil without --metrics-addr
}

// startObservability sets up tracing (tp, or the environment's) and, with
// --metrics-addr, the metrics and the server that answers /metrics,
// /healthz and /readyz, listening before anything else starts.
func startObservability(ctx context.Context, o *options, tp trace.TracerProvider, log *slog.Logger) (*observability, error) {
	obs := &observability{tp: tp, health: telemetry.NewHealth()}
	if tp == nil {
		t, err := telemetry.TracingFromEnv(ctx, "ordersaga-"+strings.Join(o.services, "+"))
		if err != nil {
			return nil, err
		}
		obs.tracing, obs.tp = t, t.TracerProvider()
		if t != nil {
			log.Info("exporting traces over OTLP")
		}
	}
	if o.metricsAddr == "" {
		return obs, nil
	}
	m, err := telemetry.NewMetrics()
	if err != nil {
		obs.close(log)
		return nil, err
	}
	obs.metrics = m
	var serve []telemetry.ServeOption
	if o.pprof {
		serve = append(serve, telemetry.WithProfiling())
	}
	if obs.server, err = telemetry.Listen(o.metricsAddr, m.Registry, obs.health, serve...); err != nil {
		// A port in use is no mistake of the command line: exit 1, not 2.
		obs.close(log)
		return nil, err
	}
	return obs, nil
}

// addr is where /metrics is served, "" when it is not.
func (obs *observability) addr() string {
	if obs.server == nil {
		return ""
	}
	return obs.server.Addr()
}

// temporalOptions makes the Temporal client of cfg report the SDK's
// metrics and carry traces (its interceptors are the worker's too).
func (obs *observability) temporalOptions(cfg *config.Config) error {
	cfg.TemporalMetrics = workflows.MetricsHandler(obs.metrics)
	if obs.tp == nil {
		return nil
	}
	i, err := workflows.TracingInterceptor(obs.tp)
	if err != nil {
		return err
	}
	cfg.TemporalInterceptors = []interceptor.ClientInterceptor{i}
	return nil
}

// choreography gives the node the process's metrics and tracer, reports
// the groups of services in the group gauges and, with the order service,
// the orders whose compensation has run longer than alertAfter, and
// returns the observer of their consumers, which /readyz asks whether
// they consume.
func (obs *observability) choreography(node *choreography.Node, services []string, alertAfter time.Duration) *telemetry.Consumers {
	node.Telemetry.Metrics = obs.metrics
	if obs.tp != nil {
		node.Telemetry.Tracer = obs.tp.Tracer(telemetry.ScopeName)
	}
	if err := obs.metrics.ObserveGroups(func(ctx context.Context) ([]telemetry.GroupStat, error) {
		return node.Bus.GroupStats(ctx, services...)
	}); err != nil {
		node.Log.Warn("no consumer group gauges", "err", err)
	}
	if slices.Contains(services, choreography.ServiceOrder) {
		err := obs.metrics.ObserveCompensating(telemetry.EngineChoreography, func(ctx context.Context) (map[shop.Op]int, error) {
			return node.Compensating(ctx, alertAfter)
		})
		if err != nil {
			node.Log.Warn("no compensating orders gauge", "err", err)
		}
	}
	consumers := telemetry.NewConsumers(obs.metrics)
	obs.health.Add("choreography", consumers.Check(services...))
	return consumers
}

// close stops the server and flushes the spans still buffered.
func (obs *observability) close(log *slog.Logger) {
	if obs.server != nil {
		if err := obs.server.Close(); err != nil {
			log.Warn("metrics server", "err", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := errors.Join(obs.tracing.Shutdown(ctx), obs.metrics.Shutdown(ctx)); err != nil {
		log.Warn("telemetry shutdown", "err", err)
	}
}
