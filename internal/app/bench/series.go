package bench

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Quantiles are the percentiles at which a run's latency distribution is
// reported (Stats.Percentiles) and drawn: dense in the tail, from the
// fastest unit (0) to the slowest (100).
var Quantiles = []float64{
	0, 10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92, 94, 95, 96, 97, 98,
	99, 99.2, 99.4, 99.5, 99.6, 99.8, 99.9, 100,
}

// Percentile is the latency below which P percent of the units ended.
type Percentile struct {
	P  float64 `json:"p"`
	Ms float64 `json:"ms"`
}

// Percentiles returns h's latencies at the Quantiles, in ms; none for an
// empty histogram. P 0 is the smallest latency and P 100 the largest.
func Percentiles(h *hdrhistogram.Histogram) []Percentile {
	if h.TotalCount() == 0 {
		return []Percentile{}
	}
	out := make([]Percentile, 0, len(Quantiles))
	for _, q := range Quantiles {
		var us int64
		switch q {
		case 0:
			us = h.Min()
		case 100:
			us = h.Max()
		default:
			us = h.ValueAtQuantile(q)
		}
		out = append(out, Percentile{P: q, Ms: microsToMillis(us)})
	}
	return out
}

// Series is a run's throughput over its time line: the wall time cut into
// equal buckets, and how many units reached a terminal status in each, per
// second. The units that failed are not counted.
type Series struct {
	// BucketSeconds is the length of each bucket; bucket i starts at
	// i × BucketSeconds after the first placement.
	BucketSeconds float64   `json:"bucket_s"`
	PerSecond     []float64 `json:"per_s"`
	// JoinsSeconds are where parts measured apart were put end to end
	// (see Combine): a bare engine's two halves.
	JoinsSeconds []float64 `json:"joins_s,omitempty"`
}

// Bucket bounds: at least PerBucket units per bucket on average, so that
// each rate is drawn from enough of them, and at most MaxBuckets buckets.
const (
	PerBucket  = 40
	MaxBuckets = 50
)

// Series returns the run's throughput over time, or nil when the run has
// no wall time or no unit that ended well.
func (r Run) Series() *Series {
	ok := 0
	for _, s := range r.Statuses {
		if s != StatusError {
			ok++
		}
	}
	if r.Wall <= 0 || ok == 0 {
		return nil
	}
	k := max(1, min(MaxBuckets, ok/PerBucket))
	width := r.Wall / time.Duration(k)
	if width <= 0 {
		k, width = 1, r.Wall
	}
	counts := make([]int, k)
	for i, e := range r.Ends {
		if i < len(r.Statuses) && r.Statuses[i] != StatusError {
			counts[min(k-1, max(0, int(e/width)))]++
		}
	}
	s := &Series{BucketSeconds: width.Seconds(), PerSecond: make([]float64, k)}
	for i, n := range counts {
		s.PerSecond[i] = float64(n) / width.Seconds()
	}
	for _, j := range r.Joins {
		s.JoinsSeconds = append(s.JoinsSeconds, j.Seconds())
	}
	return s
}
