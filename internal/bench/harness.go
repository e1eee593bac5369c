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
	Errors   int
	// Err is the first error, if any.
	Err error
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

// Measure runs n units on t with c in flight: c goroutines take indexes from
// a channel, and for each call Place and then Wait. done, when set, is called
// once per finished unit (for a progress bar); it must be safe for
// concurrent use. Measure returns when every unit ended or ctx is done.
func Measure(ctx context.Context, t Target, n, c int, done func()) Run {
	c = max(1, min(c, n))
	r := Run{N: n, Concurrency: c, Latency: NewHistogram(), Statuses: make([]shop.Status, n)}
	lat := make([]time.Duration, n)
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		first    time.Time
		last     time.Time
		errCount atomic.Int64
	)
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var myFirst, myLast time.Time
			for i := range next {
				start := time.Now()
				if myFirst.IsZero() {
					myFirst = start
				}
				status, err := place(ctx, t, i)
				end := time.Now()
				myLast = end
				lat[i] = end.Sub(start)
				if err != nil {
					status = StatusError
					if errCount.Add(1) == 1 {
						mu.Lock()
						r.Err = err
						mu.Unlock()
					}
				}
				r.Statuses[i] = status
				if done != nil {
					done()
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if !myFirst.IsZero() && (first.IsZero() || myFirst.Before(first)) {
				first = myFirst
			}
			if myLast.After(last) {
				last = myLast
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			for j := i; j < n; j++ {
				r.Statuses[j] = StatusError
			}
			errCount.Add(int64(n - i))
			mu.Lock()
			if r.Err == nil {
				r.Err = fmt.Errorf("%d of %d not placed: %w", n-i, n, ctx.Err())
			}
			mu.Unlock()
			break feed
		}
	}
	close(next)
	wg.Wait()
	r.Errors = int(errCount.Load())
	r.Wall = last.Sub(first)
	for i, d := range lat {
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
// times, so the throughput is that of the time spent running.
func Combine(runs ...Run) Run {
	out := Run{Latency: NewHistogram()}
	for _, r := range runs {
		out.N += r.N
		out.Concurrency = max(out.Concurrency, r.Concurrency)
		out.Wall += r.Wall
		out.Latency.Merge(r.Latency)
		out.Statuses = append(out.Statuses, r.Statuses...)
		out.Errors += r.Errors
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

func microsToMillis(us int64) float64 { return float64(us) / 1000 }
