package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
	"github.com/ordersaga/ordersaga/shop"
)

// TestOneTracePerOrder runs the worker and places orders the way the
// starter does, all tracing into one in-memory exporter: each order on
// each engine is one trace, rooted at its placement, with a span for every
// step and compensation, each caused by the one before.
func TestOneTracePerOrder(t *testing.T) {
	s := startStack(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	startWorker(t, func(ctx context.Context) error { return runWith(ctx, s.args(), tp) })
	eng := s.engines(t, admin.Options{TracerProvider: tp})

	declined := shop.Order{ID: "tr-declined", Items: []shop.Item{{SKU: "pen", Quantity: 1}},
		Faults: shop.FaultPlan{shop.OpCharge: {Kind: shop.FaultDecline}}}
	completed := shop.Order{ID: "tr-completed", Items: []shop.Item{{SKU: "pen", Quantity: 1}}}
	placeAndWait(t, eng, declined)
	placeAndWait(t, eng, completed)

	// What each engine must show, in causal order (the choreography's
	// deployment is fresh, so its orders take the fraud check): the orchestration's
	// activities run one after the other under the workflow's span; the
	// choreography's handlers are each the child of the one before.
	want := map[string]map[shop.Mode][]string{
		declined.ID: {
			shop.ModeOrchestration: {"RunActivity:Reserve", "RunActivity:Check", "RunActivity:Charge", "RunActivity:Release"},
			shop.ModeChoreography:  {"inventory reserve", "fraud check", "payment charge", "inventory release", "order finish"},
		},
		completed.ID: {
			shop.ModeOrchestration: {"RunActivity:Reserve", "RunActivity:Check", "RunActivity:Charge", "RunActivity:Schedule"},
			shop.ModeChoreography:  {"inventory reserve", "fraud check", "payment charge", "shipping schedule", "order finish"},
		},
	}
	teststack.Eventually(t, 15*time.Second, 200*time.Millisecond, func() error {
		traces := tracesOf(exp.GetSpans().Snapshots())
		if err := checkTraces(traces, want); err != nil {
			return fmt.Errorf("%v\nspans:\n%s", err, dump(traces))
		}
		return nil
	})
}

// tracesOf groups spans by trace.
func tracesOf(spans []sdktrace.ReadOnlySpan) map[trace.TraceID][]sdktrace.ReadOnlySpan {
	out := map[trace.TraceID][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		id := s.SpanContext().TraceID()
		out[id] = append(out[id], s)
	}
	return out
}

// checkTraces finds one trace per order and engine, rooted at PlaceOrder,
// and in it the wanted spans, in order.
func checkTraces(traces map[trace.TraceID][]sdktrace.ReadOnlySpan, want map[string]map[shop.Mode][]string) error {
	for orderID, byMode := range want {
		for mode, steps := range byMode {
			var found []trace.TraceID
			for id, spans := range traces {
				if root := rootOf(spans); root != nil && attr(root, "ordersaga.order_id") == orderID && attr(root, "ordersaga.engine") == string(mode) {
					found = append(found, id)
				}
			}
			if len(found) != 1 {
				return fmt.Errorf("%s on %s: %d traces rooted at its placement, want 1", orderID, mode, len(found))
			}
			if err := causal(traces[found[0]], steps, mode == shop.ModeChoreography); err != nil {
				return fmt.Errorf("%s on %s: %w", orderID, mode, err)
			}
		}
	}
	return nil
}

func rootOf(spans []sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	for _, s := range spans {
		if !s.Parent().IsValid() && s.Name() == "PlaceOrder" {
			return s
		}
	}
	return nil
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// causal checks that the trace holds the steps' spans in start order, each
// reaching the root through its parents; chained: each step's span
// descends from the step before.
func causal(spans []sdktrace.ReadOnlySpan, steps []string, chained bool) error {
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
	}
	var got []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if slices.Contains(steps, s.Name()) {
			got = append(got, s)
		}
	}
	slices.SortFunc(got, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	var names []string
	for _, s := range got {
		names = append(names, s.Name())
	}
	if !slices.Equal(names, steps) {
		return fmt.Errorf("steps %v, want %v", names, steps)
	}
	for i, s := range got {
		ancestors := map[trace.SpanID]bool{}
		for p := s.Parent(); p.IsValid(); {
			ancestors[p.SpanID()] = true
			parent, ok := byID[p.SpanID()]
			if !ok {
				return fmt.Errorf("%s: parent span %s is not in the trace", s.Name(), p.SpanID())
			}
			if parent.StartTime().After(s.StartTime()) {
				return fmt.Errorf("%s starts before its parent %s", s.Name(), parent.Name())
			}
			p = parent.Parent()
		}
		if chained && i > 0 && !ancestors[got[i-1].SpanContext().SpanID()] {
			return fmt.Errorf("%s is not caused by %s", s.Name(), got[i-1].Name())
		}
	}
	return nil
}

func dump(traces map[trace.TraceID][]sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for id, spans := range traces {
		fmt.Fprintf(&b, "trace %s\n", id)
		for _, s := range spans {
			fmt.Fprintf(&b, "  %-28s span %s parent %s %s\n", s.Name(), s.SpanContext().SpanID(), s.Parent().SpanID(), s.StartTime().Format("15:04:05.000000"))
		}
	}
	return b.String()
}
