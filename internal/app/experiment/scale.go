package experiment

import (
	"cmp"
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
	Mode      shop.Mode `json:"mode"`
	Instances int       `json:"instances"`
	// Partitions is P during the step when the experiment set it
	// (Config.Partitions), 0 for the stack's own.
	Partitions int     `json:"partitions,omitempty"`
	Throughput float64 `json:"throughput"`
	P50        float64 `json:"p50_ms"`
	P99        float64 `json:"p99_ms"`
	// CPUPerSaga is, per process, its CPU time over the step divided by
	// the sagas, in ms.
	CPUPerSaga map[string]float64 `json:"cpu_ms_per_saga"`
	// MasterCPU is, on a Redis Cluster, Redis's CPUPerSaga master by
	// master (by address).
	MasterCPU    map[string]float64 `json:"redis_cpu_ms_per_saga_by_master,omitempty"`
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
// in flight (bench.Measure) for Orders orders per step. With
// Config.Partitions it measures against partitions instead (scalePartitions).
func scale(ctx context.Context, eng *admin.EngineSet, cfg Config) (*bench.Report, error) {
	if len(cfg.Partitions) > 0 {
		return scalePartitions(ctx, eng, cfg)
	}
	rep := newReport(ctx, eng, cfg, "scale", fmt.Sprintf("%d orders (seed %d) per step with %d in flight, on 1 to %d instances of each participant.",
		cfg.Orders, cfg.Seed, cfg.Bench.Concurrency, cfg.Instances))
	steps, err := cfg.measure(ctx, eng, rep, []int{0}, scaleSteps(cfg.Instances))
	if err != nil {
		return nil, err
	}
	rep.Sections = append(rep.Sections, scaleSection(steps), capacitySection(steps, rep.Machine))
	rep.Extra = scaleCharts(rep, steps)
	rep.Data = steps
	return rep, nil
}

// measure measures each engine at each P of partitions (0: the stack's own)
// and each number of instances, in that order, and counts the steps in
// rep: its orders, its OK, and each engine's first step among its results.
func (cfg Config) measure(ctx context.Context, eng *admin.EngineSet, rep *bench.Report, partitions, instances []int) ([]ScaleStep, error) {
	n := cfg.Orders
	rep.Orders, rep.Concurrency = n, cfg.Bench.Concurrency
	var steps []ScaleStep
	for _, m := range modesOf(eng) {
		for i, p := range partitions {
			for j, k := range instances {
				cfg.logf("%s: %s%d instance(s) of each participant", m, partitionsText(p), k)
				// The same orders, under IDs of their own: Temporal refuses an ID twice.
				work, err := bench.Generate(cfg.Seed, nonce(), n, nil, eng.Catalog)
				if err != nil {
					return nil, err
				}
				st, res, err := cfg.scaleStep(ctx, eng, m, work, p, k)
				if err != nil {
					return nil, fmt.Errorf("%s, %s%d instances: %w", m, partitionsText(p), k, err)
				}
				steps = append(steps, st)
				rep.OK = rep.OK && res.InvariantsOK && res.Errors == 0
				if i == 0 && j == 0 {
					rep.Results = append(rep.Results, res)
				}
			}
		}
	}
	return steps, nil
}

// scaleStep measures engine m with k instances of each participant, at P
// partitions (0: the stack's own).
func (cfg Config) scaleStep(ctx context.Context, eng *admin.EngineSet, m shop.Mode, work bench.Workload, p, k int) (ScaleStep, bench.Result, error) {
	if err := resetAt(ctx, eng, p); err != nil {
		return ScaleStep{}, bench.Result{}, err
	}
	parts, err := startParticipants(ctx, eng, m, k)
	if err != nil {
		return ScaleStep{}, bench.Result{}, err
	}
	defer parts.Close() // after the check: the services still ack the ended orders' last events
	meter := cpuMeter{rdb: eng.Redis, procs: cfg.Procs}
	before, mastersBefore := meter.read(ctx)
	run := bench.Measure(ctx, bench.EngineTarget{Engine: eng.Sources[m], Orders: work.Orders}, len(work.Orders), max(1, cfg.Bench.Concurrency), nil)
	after, mastersAfter := meter.read(ctx)
	settled(ctx, eng, m, len(work.Orders), cfg.Drain)
	res, err := work.Check(ctx, eng, m, run, false)
	if err != nil {
		return ScaleStep{}, res, err
	}
	st := ScaleStep{Mode: m, Instances: k, Partitions: p, Throughput: res.Throughput, P50: res.P50, P99: res.P99,
		CPUPerSaga: perSaga(before, after, len(work.Orders)), MasterCPU: perSaga(mastersBefore, mastersAfter, len(work.Orders)),
		InvariantsOK: res.InvariantsOK && res.Errors == 0, Violations: res.Violations}
	return st, res, nil
}

// perSaga is the CPU time of each reading between before and after over
// n sagas, in ms; nil when there is none.
func perSaga(before, after map[string]time.Duration, n int) map[string]float64 {
	if before == nil {
		return nil
	}
	out := map[string]float64{}
	for name, b := range before {
		if a, ok := after[name]; ok && n > 0 {
			out[name] = float64(a-b) / float64(time.Millisecond) / float64(n)
		}
	}
	return out
}

// scaleSection is the table of every step.
func scaleSection(steps []ScaleStep) bench.Section {
	sec := bench.Section{
		Title: "Throughput and CPU per saga against instances",
		Text: []string{"Instances are the consumers of each choreography service, or the orchestration workers, all in the experiment's process. " +
			"CPU per saga is each process's CPU time over the step (INFO cpu for Redis, /proc for the others) over the sagas of the step. " +
			"A process counts with its children, live or ended, as PostgreSQL's postmaster with its backends; the starter counts alone. " +
			"On one machine every instance shares its cores with the servers: more instances help only while the servers have CPU to spare."},
	}
	sec.Header, sec.Rows = stepTable(steps, []string{"ENGINE", "INSTANCES"}, func(s ScaleStep) []string {
		return []string{string(s.Mode), fmt.Sprint(s.Instances)}
	})
	return sec
}

// stepTable is a table of steps: the cells of key under keys, then the
// throughput, the latencies and the CPU per saga of every process.
func stepTable(steps []ScaleStep, keys []string, key func(ScaleStep) []string) (header []string, rows [][]string) {
	names := map[string]bool{}
	for _, s := range steps {
		for k := range s.CPUPerSaga {
			names[k] = true
		}
	}
	procs := slices.Sorted(maps.Keys(names))
	header = append(slices.Clone(keys), "SAGAS/S", "P50", "P99")
	header = append(header, cpuHeaders(procs)...)
	for _, s := range steps {
		row := append(key(s), fmt.Sprintf("%.1f", s.Throughput), msText(s.P50), msText(s.P99))
		for _, p := range procs {
			row = append(row, fmt.Sprintf("%.2f", s.CPUPerSaga[p]))
		}
		rows = append(rows, row)
	}
	return header, rows
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
	x := stepAxis{name: "instances", label: "instances of each participant", value: func(s ScaleStep) int { return s.Instances }}
	return append(stepCharts(rep, steps, x), capacityChart(rep, steps))
}

// stepAxis is what a chart of the steps draws them against.
type stepAxis struct {
	name, label string
	value       func(ScaleStep) int
}

// stepCharts draw throughput and p99 against x, both engines.
func stepCharts(rep *bench.Report, steps []ScaleStep, x stepAxis) []bench.ReportChart {
	axis := bench.Axis{Label: x.label, Scale: bench.Log, Format: func(v float64) string { return fmt.Sprint(v) }}
	line := func(m shop.Mode, y func(ScaleStep) float64) bench.Line {
		l := bench.Line{Name: string(m), Color: colors[m]}
		for _, s := range steps {
			if s.Mode == m {
				l.Points = append(l.Points, bench.Point{X: float64(x.value(s)), Y: y(s)})
			}
		}
		slices.SortStableFunc(l.Points, func(a, b bench.Point) int { return cmp.Compare(a.X, b.X) })
		return l
	}
	tput := bench.Chart{Title: "Throughput against " + x.name, X: axis, Y: bench.Axis{Label: "sagas per second", Scale: bench.Linear, FromZero: true}, Caption: captions(rep)}
	p99 := bench.Chart{Title: "p99 latency against " + x.name, X: axis, Y: bench.Axis{Label: "p99, ms", Scale: bench.Linear, FromZero: true}, Caption: captions(rep)}
	for _, m := range shop.Modes {
		tput.Lines = append(tput.Lines, line(m, func(s ScaleStep) float64 { return s.Throughput }))
		p99.Lines = append(p99.Lines, line(m, func(s ScaleStep) float64 { return s.P99 }))
	}
	return []bench.ReportChart{{Name: "throughput", Chart: tput}, {Name: "p99", Chart: p99}}
}
