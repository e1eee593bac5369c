package experiment

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/shop"
)

// ScaleStep is one engine measured with a number of instances of each
// participant (consumers per choreography service, orchestration workers).
type ScaleStep struct {
	Mode       shop.Mode `json:"mode"`
	Instances  int       `json:"instances"`
	Throughput float64   `json:"throughput"`
	P50        float64   `json:"p50_ms"`
	P99        float64   `json:"p99_ms"`
	// CPUPerSaga is, per process, its CPU time over the step divided by
	// the sagas, in ms.
	CPUPerSaga   map[string]float64 `json:"cpu_ms_per_saga"`
	InvariantsOK bool               `json:"invariants_ok"`
	Violations   []string           `json:"violations,omitempty"`
}

// scaleSteps are the instances scale measures, up to Config.Instances.
func scaleSteps(most int) []int {
	var out []int
	for n := 1; n <= most; n *= 2 {
		out = append(out, n)
	}
	return out
}

// scale measures each engine's throughput, p99 and CPU per saga with 1, 2,
// 4 … instances of each participant: a closed loop of Concurrency sagas
// in flight (bench.Measure) for Orders orders per step.
func scale(ctx context.Context, eng *admin.EngineSet, cfg Config) (*bench.Report, error) {
	n, c := cfg.Orders, cfg.Bench.Concurrency
	rep := newReport(ctx, eng, cfg, "scale", fmt.Sprintf("%d orders (seed %d) per step with %d in flight, on 1 to %d instances of each participant.",
		n, cfg.Seed, c, cfg.Instances))
	rep.Concurrency = c
	var steps []ScaleStep
	for _, m := range modesOf(eng) {
		for _, k := range scaleSteps(cfg.Instances) {
			cfg.logf("%s: %d instance(s) of each participant", m, k)
			// The same orders, under IDs of their own: Temporal refuses an ID twice.
			work, err := bench.Generate(cfg.Seed, nonce(), n, nil, eng.Catalog)
			if err != nil {
				return nil, err
			}
			st, res, err := cfg.scaleStep(ctx, eng, m, work, k)
			if err != nil {
				return nil, fmt.Errorf("%s, %d instances: %w", m, k, err)
			}
			steps = append(steps, st)
			rep.OK = rep.OK && res.InvariantsOK && res.Errors == 0
			if k == 1 {
				rep.Results = append(rep.Results, res)
			}
		}
	}
	rep.Orders = n
	rep.Sections = append(rep.Sections, scaleSection(steps), capacitySection(steps, rep.Machine))
	rep.Extra = scaleCharts(rep, steps)
	rep.Data = steps
	return rep, nil
}

// scaleStep measures engine m with k instances of each participant.
func (cfg Config) scaleStep(ctx context.Context, eng *admin.EngineSet, m shop.Mode, work bench.Workload, k int) (ScaleStep, bench.Result, error) {
	if _, err := eng.Reset(ctx, false); err != nil {
		return ScaleStep{}, bench.Result{}, err
	}
	parts, err := startParticipants(ctx, eng, m, k)
	if err != nil {
		return ScaleStep{}, bench.Result{}, err
	}
	defer parts.Close() // after the check: the services still ack the ended orders' last events
	meter := cpuMeter{rdb: eng.Redis, procs: cfg.Procs}
	before := meter.read(ctx)
	run := bench.Measure(ctx, bench.EngineTarget{Engine: eng.Sources[m], Orders: work.Orders}, len(work.Orders), max(1, cfg.Bench.Concurrency), nil)
	after := meter.read(ctx)
	settled(ctx, eng, m, len(work.Orders), cfg.Drain)
	res, err := work.Check(ctx, eng, m, run, false)
	if err != nil {
		return ScaleStep{}, res, err
	}
	st := ScaleStep{Mode: m, Instances: k, Throughput: res.Throughput, P50: res.P50, P99: res.P99,
		CPUPerSaga: map[string]float64{}, InvariantsOK: res.InvariantsOK && res.Errors == 0, Violations: res.Violations}
	for name, b := range before {
		if a, ok := after[name]; ok && len(work.Orders) > 0 {
			st.CPUPerSaga[name] = float64(a-b) / float64(time.Millisecond) / float64(len(work.Orders))
		}
	}
	return st, res, nil
}

// scaleSection is the table of every step.
func scaleSection(steps []ScaleStep) bench.Section {
	names := map[string]bool{}
	for _, s := range steps {
		for k := range s.CPUPerSaga {
			names[k] = true
		}
	}
	procs := slices.Sorted(maps.Keys(names))
	sec := bench.Section{
		Title: "Throughput and CPU per saga against instances",
		Text: []string{"Instances are the consumers of each choreography service, or the orchestration workers, all in the experiment's process. " +
			"CPU per saga is each process's CPU time over the step (INFO cpu for Redis, /proc for the others) over the sagas of the step. " +
			"A process counts with its children, live or ended, as PostgreSQL's postmaster with its backends; the starter counts alone. " +
			"On one machine every instance shares its cores with the servers: more instances help only while the servers have CPU to spare."},
		Header: append([]string{"ENGINE", "INSTANCES", "SAGAS/S", "P50", "P99"}, cpuHeaders(procs)...),
	}
	for _, s := range steps {
		row := []string{string(s.Mode), fmt.Sprint(s.Instances), fmt.Sprintf("%.1f", s.Throughput), msText(s.P50), msText(s.P99)}
		for _, p := range procs {
			row = append(row, fmt.Sprintf("%.2f", s.CPUPerSaga[p]))
		}
		sec.Rows = append(sec.Rows, row)
	}
	return sec
}

func cpuHeaders(procs []string) []string {
	out := make([]string, len(procs))
	for i, p := range procs {
		out[i] = "CPU MS/SAGA " + p
	}
	return out
}

// scaleCharts draw throughput and p99 against instances, both engines.
func scaleCharts(rep *bench.Report, steps []ScaleStep) []bench.ReportChart {
	x := bench.Axis{Label: "instances of each participant", Scale: bench.Log, Format: func(v float64) string { return fmt.Sprint(v) }}
	line := func(m shop.Mode, y func(ScaleStep) float64) bench.Line {
		l := bench.Line{Name: string(m), Color: colors[m]}
		for _, s := range steps {
			if s.Mode == m {
				l.Points = append(l.Points, bench.Point{X: float64(s.Instances), Y: y(s)})
			}
		}
		return l
	}
	tput := bench.Chart{Title: "Throughput against instances", X: x, Y: bench.Axis{Label: "sagas per second", Scale: bench.Linear, FromZero: true}, Caption: captions(rep)}
	p99 := bench.Chart{Title: "p99 latency against instances", X: x, Y: bench.Axis{Label: "p99, ms", Scale: bench.Linear, FromZero: true}, Caption: captions(rep)}
	for _, m := range shop.Modes {
		tput.Lines = append(tput.Lines, line(m, func(s ScaleStep) float64 { return s.Throughput }))
		p99.Lines = append(p99.Lines, line(m, func(s ScaleStep) float64 { return s.P99 }))
	}
	return append([]bench.ReportChart{{Name: "throughput", Chart: tput}, {Name: "p99", Chart: p99}}, capacityChart(rep, steps))
}
