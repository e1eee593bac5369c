package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/bench"
	"github.com/ordersaga/ordersaga/internal/parallel"
	"github.com/ordersaga/ordersaga/internal/verify"
	"github.com/ordersaga/ordersaga/shop"
)

const benchArgs = "[--mode M] --orders N --concurrency C --seed S [--faults TARGET=KIND:PROB,…] [--baseline] [--json] [--report FILE.md]"

const benchSummary = "Place N seeded orders with C in flight on each engine of --mode, one engine after the other, and report\n" +
	"throughput, latency percentiles, outcomes and retries, then check the invariants. Every order has 1–3 distinct SKUs\n" +
	"(never the scarce poster) with quantities 1–5; --faults gives each order a fault with a probability, e.g.\n" +
	"payment=decline:0.1,shipping=transient:0.05,payment=delay:20ms:0.1 (TARGET as for --fail, bare transient means transient:1).\n" +
	"Each engine's state is reset first (like 'stock --reset'), so verify sees only this run. Orders the workload plans to\n" +
	"end FAILED (a declined compensation) are expected, not violations. Exits 1 when an invariant breaks, an order does not\n" +
	"finish, or with --mode both the two engines' outcome counts differ. --baseline also measures the bare engines on the\n" +
	"same servers (a no-op 3-activity Temporal workflow, a 4-hop Redis Streams pipeline) and prints our/bare ratios"

// benchKeyPrefix is where the bare stream pipeline keeps its keys, apart
// from both engines' state.
const benchKeyPrefix = "ordersaga:bench:"

// benchReaderWait bounds how long bench waits for the choreography
// services to read their streams again after a reset.
const benchReaderWait = 5 * time.Second

func (a *app) bench(ctx context.Context, args []string) error {
	fs := a.flags("bench", benchArgs, benchSummary)
	mode := addMode(fs)
	n := fs.Int("orders", 1000, "orders per engine")
	conc := fs.Int("concurrency", 64, "sagas in flight")
	seed := fs.Uint64("seed", 1, "seed of the workload: the same seed gives the same orders and faults")
	faults := fs.String("faults", "", "comma-separated TARGET=KIND:PROB, e.g. payment=decline:0.1,shipping=transient:0.05")
	asJSON := fs.Bool("json", false, "print one JSON document on stdout, and no progress bar")
	reportFile := fs.String("report", "", "also write a Markdown report to this file")
	withBaseline := fs.Bool("baseline", false, "also measure the bare engines and print our/bare ratios")
	keep := fs.Bool("keep-state", false, "do not reset the engines' state first (verify then sees earlier orders too)")
	force := fs.Bool("force", false, "reset even while orders are in flight")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usagef("bench takes no arguments, got %q", pos[0])
	case *n < 1 || *n > bench.MaxOrders:
		return usagef("--orders must be from 1 to %d, got %d", bench.MaxOrders, *n)
	case *conc < 1 || *conc > 10_000:
		return usagef("--concurrency must be from 1 to 10000, got %d", *conc)
	case *force && *keep:
		return usagef("--force goes with a reset, not with --keep-state")
	case *timeout <= 0:
		return usagef("--timeout must be positive")
	}
	if *reportFile != "" {
		if st, err := os.Stat(filepath.Dir(*reportFile)); err != nil || !st.IsDir() {
			return usagef("--report %s: no such directory", *reportFile)
		}
	}
	rules, err := bench.ParseFaults(*faults)
	if err != nil {
		return usagef("--faults: %s", oneLine(err))
	}
	catalog := shop.DefaultCatalog()
	nonce := strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	work, err := bench.Generate(*seed, nonce, *n, rules, catalog)
	if err != nil {
		return usagef("%s", oneLine(err))
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	eng, err := a.open(ctx, mode.modes)
	if err != nil {
		return err
	}
	defer eng.close()

	rep := &bench.Report{
		Command: benchCommandLine(args), Date: time.Now(), Seed: *seed, Orders: *n,
		Concurrency: *conc, Faults: bench.FormatFaults(rules), Machine: benchMachine(ctx, eng),
	}
	if !*asJSON {
		fmt.Fprintf(a.stdout, "workload: %d orders, seed %d, %d in flight, faults %s; planned: %s\n",
			*n, *seed, *conc, rep.Faults, benchCounts(work.ExpectedStatuses()))
	}
	if !*keep {
		if err := a.benchReset(ctx, eng, *force, *asJSON); err != nil {
			return err
		}
	}
	showBar := !*asJSON && bench.IsTerminal(a.stderr)
	measure := func(label string, n int, t bench.Target) bench.Run {
		var bar *bench.Progress
		if showBar {
			bar = bench.StartProgress(a.stderr, label, n)
		}
		r := bench.Measure(ctx, t, n, *conc, bar.Add)
		bar.Stop()
		return r
	}

	runs := map[shop.Mode]bench.Run{}
	for _, m := range eng.modes {
		saga := func() {
			runs[m] = measure(string(m), *n, bench.EngineTarget{Engine: eng.byMode[m], Orders: work.Orders})
		}
		if !*withBaseline {
			saga()
			continue
		}
		b, err := a.benchBaseline(ctx, eng, m, work, measure, saga)
		if err != nil {
			return err
		}
		if rep.Baseline == nil {
			rep.Baseline = &bench.Baselines{}
		}
		switch m {
		case shop.ModeOrchestration:
			rep.Baseline.Orchestration = b
		case shop.ModeChoreography:
			rep.Baseline.Choreography = b
		}
	}

	rep.OK = true
	planned := work.PlannedFailed()
	for _, m := range eng.modes {
		run := runs[m]
		res := bench.Result{
			Mode: m, Stats: run.Stats(), Statuses: run.StatusCounts(),
			ExpectedStatuses: work.ExpectedStatuses(), Violations: []string{},
		}
		if res.Retries, err = benchRetries(ctx, eng, m, work); err != nil {
			return err
		}
		vr, err := benchVerify(ctx, eng, m, *n, *keep)
		if err != nil {
			return err
		}
		for _, v := range vr.Violations {
			if benchPlannedFailure(v, planned) {
				res.PlannedFailed++
				continue
			}
			res.Violations = append(res.Violations, v)
		}
		if *keep {
			if vr.Orders < *n {
				res.Violations = append(res.Violations, fmt.Sprintf("verify saw %d orders, fewer than the %d placed", vr.Orders, *n))
			}
		} else if vr.Orders != *n {
			res.Violations = append(res.Violations, fmt.Sprintf("verify saw %d orders, but %d were placed since the reset", vr.Orders, *n))
		}
		res.InvariantsOK = len(res.Violations) == 0
		rep.OK = rep.OK && res.InvariantsOK && res.Errors == 0
		if b := rep.Baseline.For(m); b != nil {
			b.SetRatios(res.Stats)
		}
		rep.Results = append(rep.Results, res)
	}
	if len(rep.Results) > 1 {
		match := true
		for _, r := range rep.Results[1:] {
			match = match && benchSameCounts(r.Statuses, rep.Results[0].Statuses)
		}
		rep.OutcomesMatch = &match
		rep.OK = rep.OK && match
	}

	if *reportFile != "" {
		var buf bytes.Buffer
		if err := rep.WriteMarkdown(&buf); err != nil {
			return err
		}
		if err := os.WriteFile(*reportFile, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	if *asJSON {
		if err := a.printJSON(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(a.stdout)
		if err := rep.WriteText(a.stdout); err != nil {
			return err
		}
		if *reportFile != "" {
			fmt.Fprintf(a.stdout, "report written to %s\n", *reportFile)
		}
	}
	if !rep.OK {
		return errReported
	}
	return nil
}

// benchReset starts every engine of eng afresh, after checking that none has
// an order in flight (unless force), so that nothing is half-reset.
func (a *app) benchReset(ctx context.Context, eng *engines, force, quiet bool) error {
	if !force {
		for _, m := range eng.modes {
			orders, err := eng.byMode[m].Orders(ctx)
			if err != nil {
				return err
			}
			for _, o := range orders {
				if !o.Status.Terminal() {
					return fmt.Errorf("not resetting %s: order %s is still %s (wait for it, pass --force, or --keep-state)", m, o.ID, o.Status)
				}
			}
		}
	}
	for _, m := range eng.modes {
		src := eng.byMode[m]
		readers := 0
		if m == shop.ModeChoreography {
			readers = readersNow(ctx, eng.rdb)
		}
		n, err := activities.Reset(ctx, eng.rdb, src.Prefix(), eng.catalog)
		if err != nil {
			return err
		}
		if m == shop.ModeChoreography {
			if err := a.awaitReaders(ctx, eng, readers); err != nil {
				return err
			}
		}
		if !quiet {
			fmt.Fprintf(a.stdout, "%s: reset (%d keys deleted), stock back to its initial values\n", m, n)
		}
	}
	return nil
}

// awaitReaders recreates the consumer groups a reset deleted and waits
// until the choreography services read their streams again. Deleting a
// stream unblocks its readers with an error, after which a service backs off
// before it reads again; waiting here keeps that pause out of the
// measurement. Readiness is seen as the number of clients blocked in
// XREADGROUP coming back to what it was before the reset (before); when
// CLIENT LIST is not allowed, a fixed pause stands in for it.
func (a *app) awaitReaders(ctx context.Context, eng *engines, before int) error {
	if err := choreography.NewBus(eng.rdb, choreography.WithPartitions(a.cfg.Partitions)).Setup(ctx); err != nil {
		return err
	}
	deadline := time.Now().Add(benchReaderWait)
	for {
		n, err := blockedReaders(ctx, eng.rdb)
		if err != nil {
			return sleepCtx(ctx, 1500*time.Millisecond)
		}
		if n >= before || time.Now().After(deadline) {
			return nil
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

// blockedReaders counts the clients blocked in XREADGROUP right now.
func blockedReaders(ctx context.Context, rdb *redis.Client) (int, error) {
	list, err := rdb.ClientList(ctx).Result()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(list, "\n") {
		var blocked, reading bool
		for _, f := range strings.Fields(line) {
			switch {
			case strings.HasPrefix(f, "flags="):
				blocked = strings.Contains(strings.TrimPrefix(f, "flags="), "b")
			case f == "cmd=xreadgroup":
				reading = true
			}
		}
		if blocked && reading {
			n++
		}
	}
	return n, nil
}

// readersNow samples blockedReaders a few times and returns the most seen:
// a service is briefly not blocked between two reads.
func readersNow(ctx context.Context, rdb *redis.Client) int {
	most := 0
	for i := range 5 {
		if i > 0 && sleepCtx(ctx, 20*time.Millisecond) != nil {
			break
		}
		n, err := blockedReaders(ctx, rdb)
		if err != nil {
			return 0
		}
		most = max(most, n)
	}
	return most
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// benchBaseline measures the bare engine of mode m with the same N and
// concurrency, in two halves: one before the saga engine's run (saga), one
// after it. A server that slows down as work accumulates (the Temporal dev
// server does) then weighs on both alike, and their ratio stays fair.
func (a *app) benchBaseline(ctx context.Context, eng *engines, m shop.Mode, work bench.Workload,
	measure func(label string, n int, t bench.Target) bench.Run, saga func(),
) (*bench.BaselineResult, error) {
	ids := func(i int) string { return bench.OrderID(work.Seed, work.Nonce, i) }
	n := len(work.Orders)
	first := n / 2
	var (
		name  string
		label string
		part  func(base, size int) (bench.Run, error)
	)
	switch m {
	case shop.ModeOrchestration:
		t := &bench.TemporalBaseline{Client: eng.tc, IDs: ids, WorkerOptions: worker.Options{
			MaxConcurrentActivityTaskPollers: 16, MaxConcurrentWorkflowTaskPollers: 16,
		}}
		if err := t.Start(); err != nil {
			return nil, err
		}
		defer t.Stop()
		name, label = bench.BareTemporalName, "bare Temporal"
		part = func(base, size int) (bench.Run, error) {
			return measure(label, size, bench.Offset{Target: t, Base: base}), nil
		}
	case shop.ModeChoreography:
		name, label = bench.BareStreamsName, "bare Redis Streams"
		part = func(base, size int) (bench.Run, error) {
			p := &bench.StreamPipeline{Redis: eng.rdb, Prefix: benchKeyPrefix, IDs: ids, Partitions: a.cfg.Partitions}
			if ce, ok := eng.byMode[m].(*choreography.Engine); ok {
				p.PollMin, p.PollMax = ce.PollMin, ce.PollMax
			}
			if err := p.Start(ctx); err != nil {
				return bench.Run{}, err
			}
			r := measure(label, size, bench.Offset{Target: p, Base: base})
			return r, p.Stop(context.WithoutCancel(ctx))
		}
	default:
		return nil, fmt.Errorf("no baseline for mode %q", m)
	}
	var runs []bench.Run
	if first > 0 {
		r, err := part(0, first)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	saga()
	r, err := part(first, n-first)
	if err != nil {
		return nil, err
	}
	runs = append(runs, r)
	return &bench.BaselineResult{Name: name, Stats: bench.Combine(runs...).Stats()}, nil
}

// benchRetries sums, over the workload's orders with a transient fault, the
// attempts beyond the first that the participants counted.
func benchRetries(ctx context.Context, eng *engines, m shop.Mode, work bench.Workload) (int64, error) {
	prefix := eng.byMode[m].Prefix()
	var orders []shop.Order
	for _, o := range work.Orders {
		if bench.HasTransient(o) {
			orders = append(orders, o)
		}
	}
	var total atomic.Int64
	err := parallel.Do(len(orders), 16, func(i int) error {
		st, err := activities.ReadOrderState(ctx, eng.rdb, prefix, orders[i].ID)
		if err != nil {
			return err
		}
		for _, s := range st.Ops {
			if s.Attempts > 1 {
				total.Add(s.Attempts - 1)
			}
		}
		return nil
	})
	return total.Load(), err
}

// benchVerify checks an engine's invariants once its queues have settled: an
// order's terminal status is written before the other services have acked
// the terminal event, and Temporal's visibility can lag a moment behind.
func benchVerify(ctx context.Context, eng *engines, m shop.Mode, placed int, keep bool) (verify.Report, error) {
	src := eng.byMode[m]
	settle := time.Now().Add(10 * time.Second)
	for time.Now().Before(settle) {
		extra, err := src.Extra(ctx)
		if err != nil {
			return verify.Report{}, err
		}
		if len(extra) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	opts := verify.Options{MaxHistories: 1000}
	for attempt := 0; ; attempt++ {
		r, err := verify.Check(ctx, eng.rdb, src, eng.catalog, opts)
		if err != nil {
			return r, fmt.Errorf("verify %s: %w", m, err)
		}
		if r.Orders >= placed && (keep || r.Orders == placed) || attempt == 4 {
			return r, nil
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// benchPlannedFailure reports whether a violation is verify's report of a FAILED
// order that the workload planned to fail ("order ID FAILED: …").
func benchPlannedFailure(violation string, planned map[string]bool) bool {
	rest, ok := strings.CutPrefix(violation, "order ")
	if !ok {
		return false
	}
	id, tail, ok := strings.Cut(rest, " ")
	return ok && strings.HasPrefix(tail, string(shop.StatusFailed)+":") && planned[id]
}

func benchSameCounts(a, b map[shop.Status]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

func benchCounts(m map[shop.Status]int) string {
	var parts []string
	for _, s := range []shop.Status{shop.StatusCompleted, shop.StatusCompensated, shop.StatusFailed} {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[s], s))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// benchCommandLine is the command line that ran bench: the process's own
// when it ran this command, otherwise (a test) one rebuilt from args.
func benchCommandLine(args []string) string {
	words := append([]string{"starter", "bench"}, args...)
	if k := len(os.Args) - len(args); k >= 2 && os.Args[k-1] == "bench" && slices.Equal(os.Args[k:], args) {
		words = append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...)
	}
	for i, w := range words {
		words[i] = benchQuote(w)
	}
	return strings.Join(words, " ")
}

func benchQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@%+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// benchMachine describes this machine and the servers' versions.
func benchMachine(ctx context.Context, eng *engines) bench.Machine {
	m := bench.Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAverage = strings.Join(f[:3], " ")
		}
	}
	if info, err := eng.rdb.Info(ctx, "server").Result(); err == nil {
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				m.RedisVersion = v
			}
		}
	}
	if eng.tc != nil {
		m.TemporalSDK = temporal.SDKVersion
		if r, err := eng.tc.WorkflowService().GetSystemInfo(ctx, &workflowservice.GetSystemInfoRequest{}); err == nil && r.GetServerVersion() != "" {
			m.TemporalVersion, m.TemporalVersionFrom = r.GetServerVersion(), "GetSystemInfo"
		} else if c, err := eng.tc.WorkflowService().GetClusterInfo(ctx, &workflowservice.GetClusterInfoRequest{}); err == nil && c.GetServerVersion() != "" {
			m.TemporalVersion, m.TemporalVersionFrom = c.GetServerVersion(), "GetClusterInfo"
		} else {
			m.TemporalVersion, m.TemporalVersionFrom = "unknown", "the server reported no version"
		}
	}
	return m
}
