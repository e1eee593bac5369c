package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// W3C trace context header names, used as fields of the event envelope too.
const (
	TraceParentKey = "traceparent"
	TraceStateKey  = "tracestate"
)

// traceContext is a carrier for exactly the two W3C fields.
type traceContext struct{ parent, state string }

func (c *traceContext) Get(key string) string {
	switch key {
	case TraceParentKey:
		return c.parent
	case TraceStateKey:
		return c.state
	}
	return ""
}

func (c *traceContext) Set(key, value string) {
	switch key {
	case TraceParentKey:
		c.parent = value
	case TraceStateKey:
		c.state = value
	}
}

func (c *traceContext) Keys() []string { return []string{TraceParentKey, TraceStateKey} }

// TraceContextOf returns the W3C traceparent and tracestate of the span in
// ctx, or "" when ctx carries no valid span (then it costs a lookup).
func TraceContextOf(ctx context.Context) (traceparent, tracestate string) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return "", ""
	}
	var c traceContext
	propagation.TraceContext{}.Inject(ctx, &c)
	return c.parent, c.state
}

// WithRemoteParent returns ctx carrying the span context a W3C traceparent
// and tracestate name, as the remote parent of the next span started from
// it; ctx itself when traceparent is empty or malformed.
func WithRemoteParent(ctx context.Context, traceparent, tracestate string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, &traceContext{parent: traceparent, state: tracestate})
}
