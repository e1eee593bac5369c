package experiment

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/shop"
)

// DefaultPlaceTimeout bounds one placement unless Config says otherwise: a
// placement that takes longer is counted refused (and checked afterwards:
// it may have been placed).
const DefaultPlaceTimeout = 5 * time.Second

// waitTimeout bounds one wait for an order; the wait is asked again after it.
const waitTimeout = 20 * time.Second

// order is what happened to one order of a load, in times since the load's
// first placement.
type order struct {
	placed  time.Duration
	refused bool
	ended   time.Duration // zero while it runs
	// out is how the order ended, once it has.
	out shop.Outcome
}

// Sample is the state of a load at one moment.
type Sample struct {
	// At is seconds since the first placement.
	At       float64 `json:"t_s"`
	Accepted int64   `json:"accepted"`
	Refused  int64   `json:"refused"`
	InFlight int64   `json:"in_flight"`
	Ended    int64   `json:"ended"`
	// Backlog is, per step or queue, what waits for a participant.
	Backlog map[string]int64 `json:"backlog,omitempty"`
}

// Action is something done to the stack at a moment of a load (a
// participant stopped, a server started).
type Action struct {
	At   time.Duration
	Name string
	Do   func(ctx context.Context) error
}

// Load is an open-loop load: orders placed at a fixed rate whatever the
// engine does, each waited for apart, the state sampled every Interval.
type Load struct {
	Engine   shop.Engine
	Orders   []shop.Order
	Rate     float64
	Interval time.Duration
	// Backlog, when set, is sampled with the counts.
	Backlog func(ctx context.Context) (map[string]int64, error)
	Actions []Action
	// Drain bounds the wait for the orders after the last placement.
	Drain time.Duration
	// PlaceTimeout bounds one placement.
	PlaceTimeout time.Duration
	// Hold, when set, is asked before order i is placed; it may hold the
	// placements back, and returns for how long it did: the later
	// placements keep the rate from then on.
	Hold func(ctx context.Context, i int) time.Duration
}

// LoadRun is what a Load measured.
type LoadRun struct {
	Start   time.Time
	orders  []order
	Samples []Sample
	// Done are the actions done, each with when it was done and its error.
	Done []ActionDone
	// Err is the first error of an action or of the sampler.
	Err error
	// Refusal is the first refused placement's error.
	Refusal string
}

// ActionDone is an action as it happened.
type ActionDone struct {
	Name string  `json:"name"`
	At   float64 `json:"t_s"`
	Took float64 `json:"took_s"`
	Err  string  `json:"error,omitempty"`
}

// loadState is a running load's shared counters.
type loadState struct {
	start                    time.Time
	orders                   []order
	accepted, refused, ended atomic.Int64
	mu                       sync.Mutex
	actions                  []ActionDone
	firstErr                 error
	refusal                  string
}

// Run places the orders at the rate, runs the actions at their times, and
// waits for every accepted order to end (or Drain to pass after the last
// placement); it returns when it has.
func (l Load) Run(ctx context.Context) *LoadRun {
	s := &loadState{start: time.Now(), orders: make([]order, len(l.Orders))}
	var orders, side sync.WaitGroup
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var samples []Sample
	side.Go(func() { samples = l.sample(sampleCtx, s) })
	for _, a := range l.Actions {
		side.Go(func() { s.act(ctx, a) })
	}
	waitCtx, cancelWaits := context.WithCancel(ctx)
	defer cancelWaits()
	var held time.Duration
	for i := range l.Orders {
		if l.Hold != nil {
			held += l.Hold(ctx, i)
		}
		if poll.Sleep(ctx, time.Until(s.start.Add(held+time.Duration(float64(i)/l.Rate*float64(time.Second))))) != nil {
			break
		}
		orders.Go(func() { l.one(ctx, waitCtx, s, i) })
	}
	drained := make(chan struct{})
	go func() { orders.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(l.Drain):
		cancelWaits()
		<-drained
	case <-ctx.Done():
		<-drained
	}
	stopSampling()
	side.Wait()
	samples = append(samples, s.sample(nil))
	return &LoadRun{Start: s.start, orders: s.orders, Samples: samples, Done: s.actions, Err: s.firstErr, Refusal: s.refusal}
}

// one places order i and waits for its end, asking again while the engine
// cannot tell (a server down) until waitCtx ends.
func (l Load) one(ctx, waitCtx context.Context, s *loadState, i int) {
	o := &s.orders[i]
	o.placed = time.Since(s.start)
	pctx, cancel := context.WithTimeout(ctx, l.PlaceTimeout)
	err := l.Engine.Place(pctx, l.Orders[i])
	cancel()
	if err != nil {
		o.refused = true
		if s.refused.Add(1) == 1 {
			s.mu.Lock()
			s.refusal = fmt.Sprintf("%s at %.1fs: %v", l.Orders[i].ID, o.placed.Seconds(), err)
			s.mu.Unlock()
		}
		return
	}
	s.accepted.Add(1)
	_ = poll.Until(waitCtx, poll.Backoff{Min: 200 * time.Millisecond, Max: 2 * time.Second}, func(ctx context.Context) (bool, error) {
		// Bounded: a wait on a connection to a server that went away may
		// never return on its own.
		ctx, cancel := context.WithTimeout(ctx, waitTimeout)
		defer cancel()
		out, err := l.Engine.Wait(ctx, l.Orders[i].ID)
		if err != nil {
			return false, nil // asked again: the engine may be down
		}
		o.out, o.ended = out, time.Since(s.start)
		s.ended.Add(1)
		return true, nil
	})
}

// act runs a at its time.
func (s *loadState) act(ctx context.Context, a Action) {
	if poll.Sleep(ctx, time.Until(s.start.Add(a.At))) != nil {
		return
	}
	began := time.Now()
	err := a.Do(ctx)
	d := ActionDone{Name: a.Name, At: began.Sub(s.start).Seconds(), Took: time.Since(began).Seconds()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		d.Err = err.Error()
		s.firstErr = errors.Join(s.firstErr, err)
	}
	s.actions = append(s.actions, d)
}

// sample samples the load every Interval until ctx ends.
func (l Load) sample(ctx context.Context, s *loadState) []Sample {
	var out []Sample
	_ = poll.Until(ctx, poll.Every(l.Interval), func(ctx context.Context) (bool, error) {
		var backlog map[string]int64
		if l.Backlog != nil {
			bctx, cancel := context.WithTimeout(ctx, l.Interval)
			backlog, _ = l.Backlog(bctx) // none while a server is down
			cancel()
		}
		out = append(out, s.sample(backlog))
		return false, nil
	})
	return out
}

func (s *loadState) sample(backlog map[string]int64) Sample {
	acc, ended := s.accepted.Load(), s.ended.Load()
	return Sample{At: time.Since(s.start).Seconds(), Accepted: acc, Refused: s.refused.Load(),
		InFlight: acc - ended, Ended: ended, Backlog: backlog}
}

// Latency is the histogram of the orders placed from from to to (their
// placement to their end) that ended.
func (r *LoadRun) Latency(from, to time.Duration) *hdrhistogram.Histogram {
	h := bench.NewHistogram()
	for _, o := range r.orders {
		if !o.refused && o.ended > 0 && o.placed >= from && o.placed < to {
			bench.Record(h, o.ended-o.placed)
		}
	}
	return h
}

// LastEnd is when the last order placed from from to to ended; zero when
// none did, ok false when one of them never ended.
func (r *LoadRun) LastEnd(from, to time.Duration) (last time.Duration, ok bool) {
	ok = true
	for _, o := range r.orders {
		if o.refused || o.placed < from || o.placed >= to {
			continue
		}
		if o.ended == 0 {
			ok = false
		}
		last = max(last, o.ended)
	}
	return last, ok
}

// Completions is orders ended per second, per bucket of width from the
// first placement on, as chart points drawn as steps.
func (r *LoadRun) Completions(width time.Duration) []bench.Point {
	var last time.Duration
	for _, o := range r.orders {
		last = max(last, o.ended)
	}
	n := int(last/width) + 1
	counts := make([]int, n)
	for _, o := range r.orders {
		if o.ended > 0 {
			counts[int(o.ended/width)]++
		}
	}
	out := make([]bench.Point, 0, 2*n)
	for i, c := range counts {
		v := float64(c) / width.Seconds()
		out = append(out, bench.Point{X: float64(i) * width.Seconds(), Y: v}, bench.Point{X: float64(i+1) * width.Seconds(), Y: v})
	}
	return out
}
