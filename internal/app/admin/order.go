package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/shop"
)

// DiagnoseWithin bounds asking an engine why an order did not finish.
const DiagnoseWithin = 10 * time.Second

// Placement is one engine's placement of an order and, once waited for,
// its outcome, or why there is none.
type Placement struct {
	Mode    shop.Mode
	Placed  time.Time
	Outcome shop.Outcome
	// Elapsed is the time from placement to the outcome (or to giving up).
	Elapsed time.Duration
	Err     error
	// Why is what the engine found keeps the order, when it did not finish.
	Why []string
	// Note says what else happened: that another repair ran the work.
	Note string
}

// PlaceAll places o on every engine, once its ID is known to be new on all
// of them and Redis accepts writes: a duplicate is refused with
// shop.ErrDuplicateOrder, and a full Redis with config.ErrRedisFull, before
// anything is placed.
func (e *EngineSet) PlaceAll(ctx context.Context, o shop.Order) ([]Placement, error) {
	if err := config.Writable(ctx, e.Redis); err != nil {
		return nil, fmt.Errorf("place order %s: %w", o.ID, err)
	}
	for _, m := range e.Modes {
		_, err := e.Sources[m].Status(ctx, o.ID)
		if err == nil {
			return nil, fmt.Errorf("order %s already exists on %s: %w", o.ID, m, shop.ErrDuplicateOrder)
		}
		if !errors.Is(err, shop.ErrUnknownOrder) {
			return nil, err
		}
	}
	out := make([]Placement, len(e.Modes))
	for i, m := range e.Modes {
		out[i] = Placement{Mode: m, Placed: time.Now()}
		if err := e.place(ctx, m, o); err != nil {
			return nil, fmt.Errorf("place order %s on %s: %w", o.ID, m, err)
		}
	}
	return out, nil
}

// place places o on the engine of m; with a tracer, in a span that starts
// the order's trace on that engine (the engine carries it on).
func (e *EngineSet) place(ctx context.Context, m shop.Mode, o shop.Order) error {
	if e.tracer == nil {
		return e.Sources[m].Place(ctx, o)
	}
	ctx, span := e.tracer.Start(ctx, "PlaceOrder", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithNewRoot(), trace.WithAttributes(attribute.String("ordersaga.order_id", o.ID), attribute.String("ordersaga.engine", string(m))))
	defer span.End()
	err := e.Sources[m].Place(ctx, o)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

// WaitAll waits for the order's outcome on every engine of ps at once. An
// engine where it does not finish before ctx ends is asked why.
func (e *EngineSet) WaitAll(ctx context.Context, orderID string, ps []Placement) {
	var wg sync.WaitGroup
	for i := range ps {
		p := &ps[i]
		wg.Go(func() {
			p.Outcome, p.Err = e.Sources[p.Mode].Wait(ctx, orderID)
			p.Elapsed = time.Since(p.Placed)
			if p.Err != nil {
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DiagnoseWithin)
				defer cancel()
				p.Why, _ = e.Diagnose(dctx, p.Mode, orderID)
			}
		})
	}
	wg.Wait()
}

// WaitAllWatching is WaitAll that meanwhile, every interval, calls show
// with a snapshot of the order (see Watch). It returns once the outcomes
// are in and show has returned for the last time.
func (e *EngineSet) WaitAllWatching(ctx context.Context, orderID string, ps []Placement, interval time.Duration, show func(Snapshot)) {
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.Watch(wctx, orderID, interval, show)
	}()
	e.WaitAll(ctx, orderID, ps)
	stop()
	<-done
}

// RepairAll runs again the refused compensations of the FAILED order on
// every engine, one after the other, and waits for each outcome. An
// engine's error (the order is not FAILED there, or it cannot be repaired)
// is its placement's Err. When another repair runs or has ended the order,
// that is the placement's Note and its outcome is that repair's.
func (e *EngineSet) RepairAll(ctx context.Context, orderID string) []Placement {
	out := make([]Placement, 0, len(e.Modes))
	for _, m := range e.Modes {
		p := Placement{Mode: m, Placed: time.Now()}
		p.Err = e.Sources[m].Repair(ctx, orderID)
		switch {
		case errors.Is(p.Err, shop.ErrRepairRunning):
			p.Err, p.Note = nil, "another repair of the order was running: this is its outcome"
		case errors.Is(p.Err, shop.ErrRepaired):
			p.Err, p.Note = nil, "the order was repaired already: this is the outcome of that repair"
		}
		if p.Err == nil {
			p.Outcome, p.Err = e.Sources[m].Wait(ctx, orderID)
		}
		p.Elapsed = time.Since(p.Placed)
		out = append(out, p)
	}
	return out
}

// Errors joins the errors of the placements of an order, each naming its
// engine; one that did not finish within waited says why instead.
func Errors(orderID string, waited time.Duration, ps []Placement) error {
	var errs []error
	for _, p := range ps {
		switch {
		case len(p.Why) > 0:
			errs = append(errs, fmt.Errorf("%s: order %s did not finish within %s: %s", p.Mode, orderID, waited, strings.Join(p.Why, "; ")))
		case p.Err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", p.Mode, p.Err))
		}
	}
	return errors.Join(errs...)
}
