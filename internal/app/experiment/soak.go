package experiment

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/choreography/stream"
	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// SoakSample is the state the soak watches at one moment.
type SoakSample struct {
	At float64 `json:"t_s"`
	// RedisBytes is used_memory summed over the Redis nodes (masters).
	RedisBytes int64 `json:"redis_used_memory"`
	// StreamEntries is the entries of the choreography's streams.
	StreamEntries int64 `json:"stream_entries"`
	// TemporalBytes is the size of the Temporal server's persistence
	// (--temporal-data), zero when not given.
	TemporalBytes int64 `json:"temporal_bytes"`
	InFlight      int64 `json:"in_flight"`
	Ended         int64 `json:"ended"`
	// Retained counts the orders ended within the retention window before
	// the sample: ended, not yet due to be settled.
	Retained int64 `json:"retained"`
}

// SoakResult is one engine's soak.
type SoakResult struct {
	Mode    shop.Mode    `json:"mode"`
	Samples []SoakSample `json:"samples"`
	// Plateau and End are Redis's used memory at the end of the first
	// retention window and at the end of the load.
	Plateau int64 `json:"plateau_bytes"`
	End     int64 `json:"end_bytes"`
	// Probe is the measure of an order in flight (probeInFlight), taken
	// before the load.
	Probe InFlightProbe `json:"in_flight_probe"`
	// PerInFlight is Redis's bytes per order in flight, from the probe;
	// TemporalPerInFlight the Temporal persistence's, for the
	// orchestration when --temporal-data is given.
	PerInFlight         float64 `json:"bytes_per_in_flight_order"`
	TemporalPerInFlight float64 `json:"temporal_bytes_per_in_flight_order,omitempty"`
	// PerRetained is Redis's bytes per order kept within the retention
	// window (see fitRetained).
	PerRetained float64 `json:"bytes_per_retained_order"`
}

// soak runs a long steady load (Outage long) on each engine with the
// engine's retention set to Retention, sampling Redis's memory, the streams and
// the Temporal persistence: after the window, memory stays at its plateau.
func soak(ctx context.Context, eng *admin.EngineSet, cfg Config) (*bench.Report, error) {
	total := cfg.Outage
	n := max(1, int(cfg.Rate*total.Seconds()))
	work, err := bench.Generate(cfg.Seed, nonce(), n, nil, eng.Catalog)
	if err != nil {
		return nil, err
	}
	rep := newReport(ctx, eng, cfg, fmt.Sprintf("soak (%s at %g/s, retention %s)", total, cfg.Rate, cfg.Retention),
		fmt.Sprintf("%d orders (seed %d) placed at %g/s for %s; finished orders settled %s after their end.", n, cfg.Seed, cfg.Rate, total, cfg.Retention))
	var runs []*engineRun
	var results []SoakResult
	for _, m := range modesOf(eng) {
		cfg.logf("%s: soak", m)
		res, run, err := soakOne(ctx, eng, m, cfg, work.Orders)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m, err)
		}
		runs, results = append(runs, run), append(results, res)
	}
	addResults(rep, runs)
	rep.Sections = append(rep.Sections, soakSection(results, cfg))
	rep.Extra = soakCharts(rep, results, cfg)
	rep.Data = results
	return rep, nil
}

// soakOne runs the load on engine m with its retention running beside it.
func soakOne(ctx context.Context, eng *admin.EngineSet, m shop.Mode, cfg Config, orders []shop.Order) (SoakResult, *engineRun, error) {
	res := SoakResult{Mode: m}
	cfg.logf("%s: in-flight probe", m)
	if err := res.probe(ctx, eng, cfg); err != nil {
		return res, nil, fmt.Errorf("in-flight probe: %w", err)
	}
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { retain(rctx, eng, m, cfg.Retention) })
	var mu sync.Mutex
	start := time.Now()
	sample := func() {
		s := soakSample(rctx, eng, cfg)
		s.At = time.Since(start).Seconds()
		mu.Lock()
		res.Samples = append(res.Samples, s)
		mu.Unlock()
	}
	wg.Go(func() { sample(); stream.Tick(rctx, cfg.Interval, sample) })
	run, err := runOne(ctx, eng, m, cfg, plan{orders: orders, instances: cfg.Instances})
	stop()
	wg.Wait()
	if err != nil {
		return res, nil, err
	}
	res.count(run, run.Load.Start.Sub(start), cfg.Retention)
	res.summarize(cfg)
	return res, run, nil
}

// probe measures the bytes an order in flight holds (probeInFlight).
func (r *SoakResult) probe(ctx context.Context, eng *admin.EngineSet, cfg Config) error {
	p, err := probeInFlight(ctx, eng, r.Mode, cfg)
	if err != nil {
		return err
	}
	r.Probe, r.PerInFlight = p, p.perOrder(p.RedisBefore, p.RedisHeld)
	if r.Mode == shop.ModeOrchestration && cfg.TemporalData != "" {
		r.TemporalPerInFlight = p.perOrder(p.TemporalBefore, p.TemporalHeld)
	}
	return nil
}

// count fills each sample's orders ended, retained (ended within the
// retention window before it) and in flight from the run, whose load
// began offset after the soak's first sample.
func (r *SoakResult) count(run *engineRun, offset, retention time.Duration) {
	for i := range r.Samples {
		s := &r.Samples[i]
		at := time.Duration(s.At*float64(time.Second)) - offset
		for _, o := range run.Load.orders {
			switch {
			case o.refused || o.placed > at:
			case o.ended > 0 && o.ended <= at:
				s.Ended++
				if o.ended > at-retention {
					s.Retained++
				}
			default:
				s.InFlight++
			}
		}
	}
}

// summarize finds the plateau: memory when the first orders' retention
// window has passed, against memory at the end; and the bytes per retained
// order over the samples up to the plateau.
func (r *SoakResult) summarize(cfg Config) {
	window := plateauAt(cfg)
	upTo := len(r.Samples)
	for i, s := range r.Samples {
		if r.Plateau == 0 && s.At >= window.Seconds() {
			r.Plateau, upTo = s.RedisBytes, i+1
		}
		r.End = s.RedisBytes
	}
	r.PerRetained = r.fitRetained(r.Samples[:upTo])
}

// plateauAt is when the first orders' retention window has passed, with
// a minute for the orchestration's settler to see closed workflows.
func plateauAt(cfg Config) time.Duration { return cfg.Retention + time.Minute }

// fitRetained is the least-squares slope, through the origin, of Redis's
// growth since the first sample less the orders in flight's share
// (PerInFlight each) against the orders retained, over samples: one
// reading of used_memory is noisy, and a short soak has no plateau.
func (r *SoakResult) fitRetained(samples []SoakSample) float64 {
	if len(r.Samples) == 0 {
		return 0
	}
	base := float64(r.Samples[0].RedisBytes)
	var xy, xx float64
	for _, s := range samples {
		x := float64(s.Retained)
		y := float64(s.RedisBytes) - base - r.PerInFlight*float64(s.InFlight)
		xy, xx = xy+x*y, xx+x*x
	}
	if xx == 0 {
		return 0
	}
	return xy / xx
}

// retain settles each engine's finished orders window after they ended,
// as the worker's --order-retention does.
func retain(ctx context.Context, eng *admin.EngineSet, m shop.Mode, window time.Duration) {
	every := max(time.Second, window/10)
	if m == shop.ModeChoreography {
		choreography.NewNode(eng.Redis, eng.Catalog, nil).RunTrimmer(ctx, every, window, window)
		return
	}
	s := &workflows.Settler{Engine: workflows.NewEngine(eng.Temporal, eng.Catalog), Redis: eng.Redis, Retention: window, MarkerRetention: workflows.DefaultMarkerRetention, Now: time.Now,
		Log: slog.New(slog.DiscardHandler)}
	s.Run(ctx, every)
}

// soakSample reads the memory the soak watches.
func soakSample(ctx context.Context, eng *admin.EngineSet, cfg Config) SoakSample {
	s := SoakSample{RedisBytes: redisMemory(ctx, eng.Redis), TemporalBytes: dirSize(cfg.TemporalData)}
	if eng.Choreography != nil {
		pipe := eng.Redis.Pipeline()
		var lens []*redis.IntCmd
		for _, st := range eng.Choreography.Bus().Streams() {
			lens = append(lens, pipe.XLen(ctx, st))
		}
		_, _ = pipe.Exec(ctx)
		for _, l := range lens {
			s.StreamEntries += l.Val()
		}
	}
	return s
}

// redisMemory is used_memory (INFO memory), summed over a cluster's masters.
func redisMemory(ctx context.Context, rdb redis.UniversalClient) int64 {
	var total int64
	var mu sync.Mutex
	read := func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "memory").Result()
		for line := range strings.SplitSeq(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				mu.Lock()
				total += n
				mu.Unlock()
			}
		}
		return err
	}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		_ = c.ForEachMaster(ctx, read)
	case *redis.Client:
		_ = read(ctx, c)
	}
	return total
}

// dirSize is the bytes of the files at path (a directory, or a file with
// its SQLite journal files next to it).
func dirSize(path string) int64 {
	if path == "" {
		return 0
	}
	var total int64
	for _, j := range []string{"-wal", "-shm"} {
		if info, err := os.Stat(path + j); err == nil {
			total += info.Size()
		}
	}
	_ = filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

// soakSection sums the soak up per engine.
func soakSection(results []SoakResult, cfg Config) bench.Section {
	sec := bench.Section{Title: "Memory over the soak",
		Text: []string{fmt.Sprintf("Redis's used_memory (INFO memory, summed over the masters) at the start, once the first orders' retention window (%s, and a minute "+
			"for the orchestration's settler to see closed workflows) had passed, and at the end. Flat from the plateau to the end: state stays bounded.", cfg.Retention),
			fmt.Sprintf("Bytes per in-flight order, measured apart before each engine's load: %d orders placed with the payment participant stopped; "+
				"once the engine's status showed each waiting for its charge, used_memory (the median of three readings) less what it was before the placements, "+
				"over the orders. For the orchestration, the same of the Temporal persistence's size when it is given "+
				"(a database file grows by pages and reuses freed ones: a coarse figure).", probeOrders(cfg)),
			"Bytes per retained order: the least-squares slope, through the origin, over the samples up to the plateau, of used_memory's growth since the start, " +
				"less the orders in flight at the sample times the bytes per in-flight order, against the orders retained at the sample " +
				"(ended within the retention window before it, not yet due to be settled)."},
		Header: []string{"ENGINE", "START", "PLATEAU", "END", "END / PLATEAU", "BYTES PER IN-FLIGHT ORDER", "BYTES PER RETAINED ORDER",
			"TEMPORAL PERSISTENCE START → END", "TEMPORAL BYTES PER IN-FLIGHT ORDER"}}
	for _, r := range results {
		if len(r.Samples) > 0 {
			sec.Rows = append(sec.Rows, r.row(cfg))
		}
	}
	return sec
}

// row is the engine's row of soakSection.
func (r SoakResult) row(cfg Config) []string {
	first, last := r.Samples[0], r.Samples[len(r.Samples)-1]
	ratio, temporal := "-", "-"
	if r.Plateau > 0 {
		ratio = fmt.Sprintf("%.2f", float64(r.End)/float64(r.Plateau))
	}
	if r.Mode == shop.ModeOrchestration && cfg.TemporalData != "" {
		temporal = fmt.Sprintf("%.0f", r.TemporalPerInFlight)
	}
	return []string{string(r.Mode), mib(first.RedisBytes), mib(r.Plateau), mib(r.End), ratio, fmt.Sprintf("%.0f", r.PerInFlight),
		fmt.Sprintf("%.0f", r.PerRetained), mib(first.TemporalBytes) + " → " + mib(last.TemporalBytes), temporal}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// soakCharts draw Redis's memory and the Temporal persistence over time.
func soakCharts(rep *bench.Report, results []SoakResult, cfg Config) []bench.ReportChart {
	y := func(label string) bench.Axis { return bench.Axis{Label: label, Scale: bench.Linear, FromZero: true} }
	mem := bench.Chart{Title: "Redis used memory over the soak", X: timeAxis, Y: y("MiB (INFO used_memory)"), Caption: captions(rep)}
	tmp := bench.Chart{Title: "Temporal persistence size over the soak", X: timeAxis, Y: y("MiB on disk"), Caption: captions(rep)}
	for _, r := range results {
		m := bench.Line{Name: string(r.Mode), Color: colors[r.Mode]}
		t := bench.Line{Name: string(r.Mode), Color: colors[r.Mode]}
		for _, s := range r.Samples {
			m.Points = append(m.Points, bench.Point{X: s.At, Y: float64(s.RedisBytes) / (1 << 20)})
			t.Points = append(t.Points, bench.Point{X: s.At, Y: float64(s.TemporalBytes) / (1 << 20)})
		}
		mem.Lines, tmp.Lines = append(mem.Lines, m), append(tmp.Lines, t)
	}
	mem.Marks, mem.MarkLabel = []float64{plateauAt(cfg).Seconds()}, "retention window passed"
	out := []bench.ReportChart{{Name: "redis-memory", Chart: mem}}
	if cfg.TemporalData != "" {
		out = append(out, bench.ReportChart{Name: "temporal-persistence", Chart: tmp})
	}
	return out
}
