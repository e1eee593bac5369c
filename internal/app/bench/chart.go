package bench

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/ordersaga/ordersaga/shop"
)

// ReportChart is one chart of a report.
type ReportChart struct {
	// Name names the chart's file next to a Markdown report, e.g.
	// "latency-orchestration" for results-latency-orchestration.svg.
	Name string
	// Mode is the saga engine the chart is about.
	Mode  shop.Mode
	Chart Chart
}

// Colors of the lines: each saga engine its own (colour-blind safe), every
// bare engine a dashed grey.
var modeColors = map[shop.Mode]string{
	shop.ModeOrchestration: "#0072B2",
	shop.ModeChoreography:  "#D55E00",
}

const bareColor = "#555555"

// Charts returns the report's charts: per saga engine, its latency
// distribution against its bare engine's, and the throughput of both over
// their runs.
func (r *Report) Charts() []ReportChart {
	out := slices.Clone(r.Extra)
	for _, res := range r.Results {
		b := r.Baseline.For(res.Mode)
		out = append(out,
			ReportChart{Name: "latency-" + string(res.Mode), Mode: res.Mode, Chart: r.latencyChart(res, b)},
			ReportChart{Name: "throughput-" + string(res.Mode), Mode: res.Mode, Chart: r.throughputChart(res, b)})
	}
	return out
}

// captions are the lines under every chart: the workload and the stack.
func (r *Report) captions() []string {
	return []string{
		fmt.Sprintf("Workload: %d orders (seed %d), %d in flight, faults %s; measured %s.",
			r.Orders, r.Seed, r.Concurrency, r.Faults, r.Date.UTC().Format("2006-01-02 15:04 UTC")),
		"Measured on: " + r.Machine.StackText() + ".",
	}
}

// engineChart is a chart of a saga engine's points and, when b is not
// nil, of its bare engine's (dashed): titled "MODE: what", or "MODE against
// its bare engine: whatBare".
func engineChart(res Result, b *BaselineResult, what, whatBare string, points func(Stats) []Point) Chart {
	c := Chart{
		Title: fmt.Sprintf("%s: %s", res.Mode, what),
		Lines: []Line{{Name: string(res.Mode), Color: modeColors[res.Mode], Points: points(res.Stats)}},
	}
	if b != nil {
		c.Title = fmt.Sprintf("%s against its bare engine: %s", res.Mode, whatBare)
		c.Lines = append(c.Lines, Line{Name: b.Name, Color: bareColor, Dashed: true, Points: points(b.Stats)})
	}
	return c
}

func (r *Report) latencyChart(res Result, b *BaselineResult) Chart {
	c := engineChart(res, b, "latency percentiles, placement to terminal status", "latency percentiles",
		func(s Stats) []Point { return percentilePoints(s.Percentiles) })
	c.X = Axis{Label: "percentile (0, 90, 99 and 99.9 equally far apart)", Scale: Nines, Format: percentText}
	c.Y = Axis{Label: "latency from placement to terminal status (log scale)", Scale: Log, Format: msTick}
	c.Caption = append([]string{fmt.Sprintf("p50 %s, p99 %s (%s)%s.",
		msText(res.P50), msText(res.P99), res.Mode, bareLatencyText(b))}, r.captions()...)
	return c
}

func bareLatencyText(b *BaselineResult) string {
	if b == nil {
		return ""
	}
	return fmt.Sprintf("; p50 %s, p99 %s (bare)", msText(b.P50), msText(b.P99))
}

func (r *Report) throughputChart(res Result, b *BaselineResult) Chart {
	c := engineChart(res, b, "throughput over the run", "throughput over the run",
		func(s Stats) []Point { return seriesPoints(s.Series) })
	c.X = Axis{Label: "seconds since the first placement", Scale: Linear, FromZero: true}
	c.Y = Axis{Label: "sagas completed per second", Scale: Linear, FromZero: true}
	c.MarkLabel = "bare: halves joined"
	note := fmt.Sprintf("%s %.1f sagas/s over the run%s", res.Mode, res.Throughput, bucketText(res.Series))
	if b != nil {
		note += fmt.Sprintf("; bare %.1f sagas/s%s, half of its units run before %s and half after, joined at the dotted line",
			b.Throughput, bucketText(b.Series), res.Mode)
		if b.Series != nil {
			c.Marks = b.Series.JoinsSeconds
		}
	}
	c.Caption = append([]string{note + "."}, r.captions()...)
	return c
}

func bucketText(s *Series) string {
	if s == nil {
		return ""
	}
	return fmt.Sprintf(" (completions counted per %s)", msText(1000*s.BucketSeconds))
}

// percentilePoints are a distribution's points as (percentile, ms).
func percentilePoints(ps []Percentile) []Point {
	out := make([]Point, 0, len(ps))
	for _, p := range ps {
		out = append(out, Point{X: p.P, Y: p.Ms})
	}
	return out
}

// seriesPoints draw a series as steps: each bucket's rate from its start
// to its end.
func seriesPoints(s *Series) []Point {
	if s == nil {
		return nil
	}
	out := make([]Point, 0, 2*len(s.PerSecond))
	for i, v := range s.PerSecond {
		out = append(out, Point{X: float64(i) * s.BucketSeconds, Y: v}, Point{X: float64(i+1) * s.BucketSeconds, Y: v})
	}
	return out
}

func percentText(p float64) string { return strconv.FormatFloat(p, 'g', -1, 64) + "%" }

// msTick writes a latency tick in ms the short way: 500 µs, 2 ms, 1 s.
func msTick(ms float64) string {
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
	switch {
	case ms >= 1000:
		return g(ms/1000) + " s"
	case ms >= 1:
		return g(ms) + " ms"
	}
	return g(ms*1000) + " µs"
}
