package experiment

import (
	"fmt"
	"time"

	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/shop"
)

// Colors of the engines, as bench draws them.
var colors = map[shop.Mode]string{shop.ModeOrchestration: "#0072B2", shop.ModeChoreography: "#D55E00"}

// timeAxis is the x axis of a chart over a load.
var timeAxis = bench.Axis{Label: "seconds since the first placement", Scale: bench.Linear, FromZero: true}

// shading is what a chart over time shades: the span (none when nil) and
// its label.
type shading struct {
	span  *bench.Span
	label string
}

// overTime is a chart of both engines over the load's time line, with the
// outage (or nothing) shaded.
func overTime(title, yLabel string, runs []*engineRun, shade shading, points func(*engineRun) []bench.Point) bench.Chart {
	c := bench.Chart{Title: title, X: timeAxis, Y: bench.Axis{Label: yLabel, Scale: bench.Linear, FromZero: true}, ShadeLabel: shade.label}
	if shade.span != nil {
		c.Shades = []bench.Span{*shade.span}
	}
	for _, r := range runs {
		c.Lines = append(c.Lines, bench.Line{Name: string(r.Mode), Color: colors[r.Mode], Points: points(r)})
	}
	return c
}

// inFlight are a run's orders in flight at each sample.
func inFlight(r *engineRun) []bench.Point {
	out := make([]bench.Point, 0, len(r.Load.Samples))
	for _, s := range r.Load.Samples {
		out = append(out, bench.Point{X: s.At, Y: float64(s.InFlight)})
	}
	return out
}

// captions are the lines under an experiment's charts.
func captions(rep *bench.Report) []string {
	return []string{"Workload: " + rep.WorkloadText + " Measured " + rep.Date.UTC().Format("2006-01-02 15:04 UTC") + ".",
		"Measured on: " + rep.Machine.StackText() + "."}
}

// outageCharts are the in-flight orders and the completions per second of
// both engines over the load, the outage shaded.
func outageCharts(rep *bench.Report, runs []*engineRun, cfg Config) []bench.ReportChart {
	shade := shading{span: &bench.Span{From: cfg.Before.Seconds(), To: (cfg.Before + cfg.Outage).Seconds()}, label: fmt.Sprintf("%s down", cfg.Service)}
	bucket := max(time.Second, cfg.Interval)
	flight := overTime(fmt.Sprintf("Orders in flight, %s down %s", cfg.Service, cfg.Outage), "orders placed and not ended", runs, shade, inFlight)
	done := overTime(fmt.Sprintf("Completions per second, %s down %s", cfg.Service, cfg.Outage), "orders ended per second", runs, shade,
		func(r *engineRun) []bench.Point { return r.Load.Completions(bucket) })
	flight.Caption = append([]string{fmt.Sprintf("Sampled every %s; the shaded band is the outage.", cfg.Interval)}, captions(rep)...)
	done.Caption = append([]string{fmt.Sprintf("Orders ended per %s bucket; the shaded band is the outage.", bucket)}, captions(rep)...)
	return []bench.ReportChart{{Name: "in-flight", Chart: flight}, {Name: "completions", Chart: done}}
}
