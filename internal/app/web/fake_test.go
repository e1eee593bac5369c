package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordersaga/ordersaga/shop"
)

// fakeEngine is an engine in memory: orders stay as the test sets them.
type fakeEngine struct {
	mode shop.Mode

	mu                               sync.Mutex
	orders                           map[string]*fakeOrder
	placed                           []shop.Order
	counts                           Counts
	books                            Books
	statusErr, placeErr, overviewErr error
	// statusHangs makes Status wait for its context, as a query to a
	// workflow with no worker does.
	statusHangs bool
	// overviewHangs makes Overview wait for its context, as a call to a
	// server that is down does.
	overviewHangs bool

	overviews atomic.Int64
}

type fakeOrder struct {
	placed  time.Time
	prog    shop.Progress
	history []shop.Event
}

func newFake(mode shop.Mode) *fakeEngine {
	return &fakeEngine{mode: mode, orders: map[string]*fakeOrder{},
		books: Books{Stock: map[string]int64{"book": 999_999, "mug": 1_000_000}, Money: Money{ChargedCents: 8400, RefundedCents: 4200, Charges: 2, Refunds: 1}}}
}

func (f *fakeEngine) Mode() shop.Mode { return f.mode }

func (f *fakeEngine) Place(_ context.Context, o shop.Order) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.placeErr != nil {
		return f.placeErr
	}
	if _, ok := f.orders[o.ID]; ok {
		return shop.ErrDuplicateOrder
	}
	f.placed = append(f.placed, o)
	f.orders[o.ID] = &fakeOrder{placed: time.Now(), prog: shop.Progress{Outcome: shop.Outcome{OrderID: o.ID, Status: shop.StatusPending}}}
	return nil
}

func (f *fakeEngine) Status(ctx context.Context, id string) (shop.Progress, error) {
	f.mu.Lock()
	hangs := f.statusHangs
	f.mu.Unlock()
	if hangs {
		<-ctx.Done()
		return shop.Progress{}, fmt.Errorf("status of order %s: %w", id, ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.statusErr != nil {
		return shop.Progress{}, f.statusErr
	}
	o, ok := f.orders[id]
	if !ok {
		return shop.Progress{}, fmt.Errorf("order %s: %w", id, shop.ErrUnknownOrder)
	}
	return o.prog, nil
}

func (f *fakeEngine) History(_ context.Context, id string) ([]shop.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.orders[id]
	if !ok {
		return nil, fmt.Errorf("order %s: %w", id, shop.ErrUnknownOrder)
	}
	return o.history, nil
}

func (f *fakeEngine) Overview(ctx context.Context, n int) (Overview, error) {
	f.overviews.Add(1)
	f.mu.Lock()
	hangs := f.overviewHangs
	f.mu.Unlock()
	if hangs {
		<-ctx.Done()
		return Overview{}, fmt.Errorf("count order workflows: %w", ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.overviewErr != nil {
		return Overview{}, f.overviewErr
	}
	var rows []Order
	for id, o := range f.orders {
		rows = append(rows, Order{ID: id, Placed: o.placed, Status: o.prog.Status})
	}
	slices.SortFunc(rows, func(a, b Order) int { return b.Placed.Compare(a.Placed) })
	return Overview{Counts: f.counts, Recent: rows[:min(n, len(rows))]}, nil
}

func (f *fakeEngine) Books(context.Context) (Books, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.books, nil
}

// set puts an order in a given state.
func (f *fakeEngine) set(id string, placed time.Time, st shop.Status, history ...shop.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orders[id] = &fakeOrder{placed: placed, prog: shop.Progress{Outcome: shop.Outcome{OrderID: id, Status: st}}, history: history}
}

// setOutcome is set with the order's whole outcome.
func (f *fakeEngine) setOutcome(placed time.Time, out shop.Outcome, history ...shop.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orders[out.OrderID] = &fakeOrder{placed: placed, prog: shop.Progress{Outcome: out}, history: history}
}

func (f *fakeEngine) placedOrders() []shop.Order {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.placed)
}

type fakeBus struct {
	h   BusHealth
	err error
}

func (b *fakeBus) Health(context.Context) (BusHealth, error) { return b.h, b.err }

var errDown = errors.New("temporal at 127.0.0.1:1 is unreachable")

// fixture is a page over two fake engines.
type fixture struct {
	orch, chor *fakeEngine
	bus        *fakeBus
	srv        *Server
	http       *httptest.Server
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	f := &fixture{orch: newFake(shop.ModeOrchestration), chor: newFake(shop.ModeChoreography)}
	f.bus = &fakeBus{h: BusHealth{DeadLetters: 2, Services: []ServiceHealth{
		{Service: "order", Grouped: true, LagKnown: true, Consumers: 1, Live: 1},
		{Service: "payment", Grouped: true, LagKnown: true, Lag: 7, Pending: 3, Consumers: 2},
	}}}
	opts.Engines = []View{f.orch, f.chor}
	opts.Bus = f.bus
	opts.Catalog = shop.DefaultCatalog()
	if opts.WorkflowURL == nil {
		opts.WorkflowURL = func(id string) string { return "http://ui.test/namespaces/default/workflows/order-" + id }
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	f.http = httptest.NewServer(srv.Handler())
	t.Cleanup(f.http.Close)
	return f
}

func (f *fixture) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	return do(t, f.http.Client(), http.MethodGet, f.http.URL+path, nil, nil)
}
