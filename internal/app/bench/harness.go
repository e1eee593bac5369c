package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ordersaga/ordersaga/shop"
)

// Target is what the harness drives: something that starts the i-th unit of
// work and waits for it to end. Saga engines and the bare baselines are all
// measured through it.
type Target interface {
	Place(ctx context.Context, i int) error
	Wait(ctx context.Context, i int) (shop.Status, error)
}

// EngineTarget drives a saga engine over a workload's orders.
type EngineTarget struct {
	Engine shop.Engine
	Orders []shop.Order
}

// Place places the i-th order.
func (t EngineTarget) Place(ctx context.Context, i int) error {
	return t.Engine.Place(ctx, t.Orders[i])
}

// Wait waits for the i-th order's outcome.
func (t EngineTarget) Wait(ctx context.Context, i int) (shop.Status, error) {
	out, err := t.Engine.Wait(ctx, t.Orders[i].ID)
	return out.Status, err
}

// StatusError is the status of a unit the harness could not place or wait for.
const StatusError shop.Status = "ERROR"

// Run is the measurement of one target.
type Run struct {
	N           int
	Concurrency int
	// Wall is the time from the first placement to the last terminal status.
	Wall time.Duration
	// Latency holds each unit's time from placement to terminal status, in µs.
	Latency *hdrhistogram.Histogram
	// Statuses is each unit's terminal status, StatusError when it failed.
	Statuses []shop.Status
	// Ends is, per unit, when it ended (terminal status or error), counted
	// from the run's first placement; zero for a unit never placed. The
	// throughput over the run (Series) is drawn from it.
	Ends []time.Duration
	// Joins are the points of Ends' time line where runs measured apart
	// were put end to end (see Combine).
	Joins  []time.Duration
	Errors int
	// Err is the first error, if any.
	Err error
	// Redis is what Redis did over the run, when it was sampled.
	Redis *redisUsage
}

// Latency histogram bounds: 1 µs to one hour, three significant digits.
const (
	minLatencyMicros = 1
	maxLatencyMicros = int64(time.Hour / time.Microsecond)
	sigDigits        = 3
)

// NewHistogram returns an empty latency histogram in microseconds.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(minLatencyMicros, maxLatencyMicros, sigDigits)
}

// Record adds one latency to h, clamped to the histogram's range.
func Record(h *hdrhistogram.Histogram, d time.Duration) {
	us := max(d.Microseconds(), minLatencyMicros)
	_ = h.RecordValue(min(us, maxLatencyMicros))
}

// measurement is the state one Measure call shares between its goroutines.
// Each unit's slots (lat, ends, Statuses) are written by the one goroutine
// that runs the unit.
type measurement struct {
	t    Target
	done func()
	run  Run
	lat  []time.Duration
	ends []time.Time

	errCount atomic.Int64
	mu       sync.Mutex // guards run.Err, first and last
	first    time.Time
	last     time.Time
}

// Measure runs n units on t with c in flight: c goroutines take indexes from
// a channel, and for each call Place and then Wait. done, when set, is called
// once per finished unit (for a progress bar); it must be safe for
// concurrent use. Measure returns when every unit ended or ctx is done.
func Measure(ctx context.Context, t Target, n, c int, done func()) Run {
	c = max(1, min(c, n))
	m := &measurement{
		t: t, done: done, lat: make([]time.Duration, n), ends: make([]time.Time, n),
		run: Run{N: n, Concurrency: c, Latency: NewHistogram(), Statuses: make([]shop.Status, n), Ends: make([]time.Duration, n)},
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() { m.work(ctx, next) })
	}
	m.feed(ctx, next, n)
	close(next)
	wg.Wait()
	return m.finish()
}

// work runs the units it takes from next until next is closed.
func (m *measurement) work(ctx context.Context, next <-chan int) {
	var myFirst, myLast time.Time
	for i := range next {
		start := time.Now()
		if myFirst.IsZero() {
			myFirst = start
		}
		status, err := place(ctx, m.t, i)
		end := time.Now()
		myLast = end
		m.lat[i], m.ends[i] = end.Sub(start), end
		if err != nil {
			status = StatusError
			m.fail(1, err)
		}
		m.run.Statuses[i] = status
		if m.done != nil {
			m.done()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !myFirst.IsZero() && (m.first.IsZero() || myFirst.Before(m.first)) {
		m.first = myFirst
	}
	if myLast.After(m.last) {
		m.last = myLast
	}
}

// fail counts k failed units and keeps err when it is the first error.
func (m *measurement) fail(k int, err error) {
	if m.errCount.Add(int64(k)) == int64(k) {
		m.mu.Lock()
		if m.run.Err == nil {
			m.run.Err = err
		}
		m.mu.Unlock()
	}
}

// feed hands out the n indexes, and marks those it could not hand out
// before ctx ended as errors.
func (m *measurement) feed(ctx context.Context, next chan<- int, n int) {
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			for j := i; j < n; j++ {
				m.run.Statuses[j] = StatusError
			}
			m.fail(n-i, fmt.Errorf("%d of %d not placed: %w", n-i, n, ctx.Err()))
			return
		}
	}
}

// finish sums the units up once every goroutine is done.
func (m *measurement) finish() Run {
	r := m.run
	r.Errors = int(m.errCount.Load())
	r.Wall = m.last.Sub(m.first)
	for i, d := range m.lat {
		if !m.ends[i].IsZero() {
			r.Ends[i] = m.ends[i].Sub(m.first)
		}
		if r.Statuses[i] != StatusError {
			Record(r.Latency, d)
		}
	}
	return r
}

func place(ctx context.Context, t Target, i int) (shop.Status, error) {
	if err := t.Place(ctx, i); err != nil {
		return "", fmt.Errorf("place %d: %w", i, err)
	}
	st, err := t.Wait(ctx, i)
	if err != nil {
		return "", fmt.Errorf("wait for %d: %w", i, err)
	}
	return st, nil
}

// Offset shifts a target's indexes: unit i of the result is unit Base+i of
// Target. It measures a part of a workload.
type Offset struct {
	Target Target
	Base   int
}

// Place places unit Base+i.
func (o Offset) Place(ctx context.Context, i int) error { return o.Target.Place(ctx, o.Base+i) }

// Wait waits for unit Base+i.
func (o Offset) Wait(ctx context.Context, i int) (shop.Status, error) {
	return o.Target.Wait(ctx, o.Base+i)
}

// Combine joins runs of parts of one workload measured at different times
// into one: their units, latencies and errors add up, and so do their wall
// times, so the throughput is that of the time spent running. Their time
// lines are put end to end, each join recorded in Joins.
func Combine(runs ...Run) Run {
	out := Run{Latency: NewHistogram()}
	for k, r := range runs {
		if k > 0 {
			out.Joins = append(out.Joins, out.Wall)
		}
		for _, j := range r.Joins {
			out.Joins = append(out.Joins, out.Wall+j)
		}
		for i, e := range r.Ends {
			if e == 0 && i < len(r.Statuses) && r.Statuses[i] == StatusError {
				out.Ends = append(out.Ends, 0) // never placed
				continue
			}
			out.Ends = append(out.Ends, out.Wall+e)
		}
		out.N += r.N
		out.Concurrency = max(out.Concurrency, r.Concurrency)
		out.Wall += r.Wall
		out.Latency.Merge(r.Latency)
		out.Statuses = append(out.Statuses, r.Statuses...)
		out.Errors += r.Errors
		out.Redis = addUsage(out.Redis, r.Redis)
		if out.Err == nil {
			out.Err = r.Err
		}
	}
	return out
}

// Stats is a run summed up, as it is printed and written to JSON.
type Stats struct {
	Orders      int     `json:"orders"`
	Concurrency int     `json:"concurrency"`
	WallSeconds float64 `json:"wall_s"`
	// Throughput is units per second: N over the wall time.
	Throughput float64 `json:"throughput"`
	P50        float64 `json:"p50_ms"`
	P90        float64 `json:"p90_ms"`
	P99        float64 `json:"p99_ms"`
	Max        float64 `json:"max_ms"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	// Percentiles is the latency distribution at the Quantiles.
	Percentiles []Percentile `json:"latency_percentiles"`
	// Series is the throughput over the run.
	Series *Series `json:"throughput_series,omitempty"`
	// RedisCPU is Redis's work per saga over the run, when it was sampled.
	RedisCPU *RedisCPU `json:"redis_cpu,omitempty"`
}

// Stats sums the run up.
func (r Run) Stats() Stats {
	s := Stats{Orders: r.N, Concurrency: r.Concurrency, WallSeconds: r.Wall.Seconds(), Errors: r.Errors}
	if r.Wall > 0 {
		s.Throughput = float64(r.N) / r.Wall.Seconds()
	}
	if r.Latency.TotalCount() > 0 {
		s.P50 = microsToMillis(r.Latency.ValueAtQuantile(50))
		s.P90 = microsToMillis(r.Latency.ValueAtQuantile(90))
		s.P99 = microsToMillis(r.Latency.ValueAtQuantile(99))
		s.Max = microsToMillis(r.Latency.Max())
	}
	s.Percentiles = Percentiles(r.Latency)
	s.Series = r.Series()
	if r.Redis != nil {
		s.RedisCPU = r.Redis.perSaga(r.N)
	}
	if r.Err != nil {
		s.FirstError = r.Err.Error()
	}
	return s
}

// StatusCounts counts the run's statuses.
func (r Run) StatusCounts() map[shop.Status]int {
	out := map[shop.Status]int{}
	for _, s := range r.Statuses {
		if s != "" {
			out[s]++
		}
	}
	return out
}

// addUsage adds two runs' Redis usage; nil when neither was sampled.
func addUsage(a, b *redisUsage) *redisUsage {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	sum := a.plus(*b)
	return &sum
}

func microsToMillis(us int64) float64 { return float64(us) / 1000 }
