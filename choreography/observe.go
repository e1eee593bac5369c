package choreography

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordersaga/ordersaga/internal/platform/telemetry"
	"github.com/ordersaga/ordersaga/shop"
)

// Telemetry is what a node reports of its handlers. The zero value reports
// nothing and costs nothing.
type Telemetry struct {
	// Metrics counts handled events and their latency, and finished sagas.
	Metrics *telemetry.Metrics
	// Tracer makes a span of each handler run, the child of the event's
	// trace context, and the events it publishes carry that span's.
	Tracer trace.Tracer
}

func (t Telemetry) off() bool { return t.Metrics == nil && t.Tracer == nil }

// observeBatch is the telemetry middleware of a batch handler: each event
// is tracked (see track) as if it were handled alone, its span set as the
// delivery's own context.
func (n *Node) observeBatch(service string, h BatchHandler) BatchHandler {
	if n.Telemetry.off() {
		return h
	}
	return func(ctx context.Context, ds []*Delivery) []error {
		ends := make([]func(error), len(ds))
		for i, d := range ds {
			d.ctx, ends[i] = n.track(ctx, service, d.Event.Type, d)
		}
		errs := h(ctx, ds)
		for i, end := range ends {
			end(errs[i])
		}
		return errs
	}
}

// track starts the telemetry of one handled event: a span named after
// what the service does ("payment charge", "order finish"), whose parent
// is the event's trace context, and the handled-event metrics, which the
// returned function ends with the handler's error.
func (n *Node) track(ctx context.Context, service string, t EventType, d *Delivery) (context.Context, func(error)) {
	m, tracer := n.Telemetry.Metrics, n.Telemetry.Tracer
	start := time.Now()
	var span trace.Span
	if tracer != nil {
		ctx = telemetry.WithRemoteParent(ctx, d.Event.TraceParent, d.Event.TraceState)
		ctx, span = tracer.Start(ctx, service+" "+actionOf(service, t), trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
			attribute.String("messaging.system", "redis"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", d.Stream),
			attribute.String("messaging.consumer.group.name", d.Group),
			attribute.String("messaging.message.id", d.ID),
			attribute.Int64("ordersaga.deliveries", d.Deliveries),
			attribute.String("ordersaga.event_type", string(t)),
			attribute.String("ordersaga.order_id", d.Event.OrderID),
		))
	}
	return ctx, func(err error) {
		result := resultOf(err)
		m.EventHandled(service, string(t), result, time.Since(start))
		if span != nil {
			span.SetAttributes(attribute.String("ordersaga.result", result))
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			span.End()
		}
	}
}

// actionOf names what service does on an event: the participant's
// operation, or "finish" for the order service.
func actionOf(service string, t EventType) string {
	if r, ok := reactions[service][t]; ok {
		return string(r.op)
	}
	return "finish"
}

func resultOf(err error) string {
	switch {
	case err == nil:
		return telemetry.ResultOK
	case errors.Is(err, ErrPoison):
		return telemetry.ResultPoison
	}
	return telemetry.ResultRetry
}

// withTraceContext stamps ev with the trace context of ctx's span, if any.
func withTraceContext(ctx context.Context, ev *Envelope) {
	ev.TraceParent, ev.TraceState = telemetry.TraceContextOf(ctx)
}

// recordSaga records an order the order service has just ended, from its
// placement time as the finish script returned it.
func (n *Node) recordSaga(out shop.Outcome, placedAt any) {
	if n.Telemetry.Metrics == nil {
		return
	}
	s, _ := placedAt.(string)
	placed, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return // an order without a placement time: nothing to measure
	}
	n.Telemetry.Metrics.RecordSaga(telemetry.EngineChoreography, out, n.Now().Sub(placed))
}

// GroupStats reads the pending entries and the lag of the services' groups
// on every stream they consume (every partition's), in one pipeline, for
// the group gauges.
func (b *Bus) GroupStats(ctx context.Context, services ...string) ([]telemetry.GroupStat, error) {
	type read struct {
		service, stream string
		cmd             *redis.XInfoGroupsCmd
	}
	var reads []read
	pipe := b.Redis.Pipeline()
	for _, svc := range services {
		streams, _ := b.streamsOf(svc)
		for _, s := range streams {
			reads = append(reads, read{svc, s, pipe.XInfoGroups(ctx, s)})
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("consumer groups: %w", err)
	}
	var out []telemetry.GroupStat
	for _, r := range reads {
		for _, g := range r.cmd.Val() {
			if g.Name == r.service {
				out = append(out, telemetry.GroupStat{Group: g.Name, Stream: r.stream, Pending: g.Pending, Lag: g.Lag})
			}
		}
	}
	return out, nil
}
