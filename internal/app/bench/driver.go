package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/worker"
	"golang.org/x/sync/errgroup"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/internal/platform/poll"
	"github.com/ordersaga/ordersaga/shop"
)

// KeyPrefix is where the bare stream pipeline keeps its keys, apart from
// both engines' state.
const KeyPrefix = "ordersaga:bench:"

// Config is one bench run of a workload.
type Config struct {
	Concurrency int
	// Baseline also measures the bare engines.
	Baseline bool
	// Reset deletes every order of the engines before the run (see
	// admin.ResetDeletes); Force does so even while orders are in flight.
	// KeepState runs on top of the orders the engines hold, and verify
	// counts them too. With neither, engines that hold orders are refused
	// (a *HeldError) and nothing is deleted.
	Reset, KeepState, Force bool
	// Command is the command line, for the report.
	Command string
	// Stack, when set, says in the report which stack the servers are
	// (e.g. "make up"), besides what they report of themselves.
	Stack string
	// Progress, when set, shows a progress bar per measured target.
	Progress io.Writer
	// Log, when set, gets one line per engine reset.
	Log io.Writer
	// Ready, when set, is called once the engines are ready for the run
	// (after a reset), before the first order is placed.
	Ready func()

	// redis, when set, is sampled before and after each measurement.
	redis redis.UniversalClient
}

// Drive measures every engine of eng on the workload, one engine after the
// other, checks the invariants and returns the report; Report.OK says
// whether everything held. It deletes orders only when cfg.Reset asks it
// to: engines that hold orders are otherwise refused, unless KeepState.
func Drive(ctx context.Context, eng *admin.EngineSet, cfg Config, work Workload) (*Report, error) {
	if err := cfg.Prepare(ctx, eng); err != nil {
		return nil, err
	}
	if cfg.Ready != nil {
		cfg.Ready()
	}
	cfg.redis = eng.Redis
	rep := &Report{
		Command: cfg.Command, Date: time.Now(), Seed: work.Seed, Orders: len(work.Orders),
		Concurrency: cfg.Concurrency, Faults: FormatFaults(work.Rules), Machine: DescribeMachine(ctx, eng, cfg.Stack),
	}
	runs := map[shop.Mode]Run{}
	for _, m := range eng.Modes {
		saga := func() {
			runs[m] = cfg.measure(ctx, string(m), len(work.Orders), EngineTarget{Engine: eng.Sources[m], Orders: work.Orders})
		}
		if !cfg.Baseline {
			saga()
			continue
		}
		b, err := cfg.baseline(ctx, eng, m, work, saga)
		if err != nil {
			return nil, err
		}
		rep.Baseline = rep.Baseline.with(m, b)
	}
	rep.OK = true
	for _, m := range eng.Modes {
		res, err := work.Check(ctx, eng, m, runs[m], cfg.KeepState)
		if err != nil {
			return nil, err
		}
		rep.OK = rep.OK && res.InvariantsOK && res.Errors == 0
		if b := rep.Baseline.For(m); b != nil {
			b.SetRatios(res.Stats)
		}
		rep.Results = append(rep.Results, res)
	}
	if len(rep.Results) > 1 {
		match := true
		for _, r := range rep.Results[1:] {
			match = match && maps.Equal(r.Statuses, rep.Results[0].Statuses)
		}
		rep.OutcomesMatch = &match
		rep.OK = rep.OK && match
	}
	return rep, nil
}

// HeldError refuses a bench on engines that hold orders it did not place,
// when neither a reset nor keeping them was asked for. Nothing is deleted.
type HeldError struct{ Held admin.Held }

func (e *HeldError) Error() string {
	return fmt.Sprintf("the engines hold %s that this run did not place; nothing was deleted: "+
		"pass --reset to delete them first, or --keep-state to bench on top of them", e.Held)
}

// Prepare readies the engines for the run: a reset when asked for, else a
// check that they hold no orders unless KeepState (a *HeldError).
func (cfg Config) Prepare(ctx context.Context, eng *admin.EngineSet) error {
	switch {
	case cfg.KeepState:
		return nil
	case cfg.Reset:
		done, err := eng.Reset(ctx, cfg.Force)
		if _, ok := errors.AsType[*admin.InFlightError](err); ok {
			return fmt.Errorf("%w; or bench with --keep-state", err)
		}
		if err != nil {
			return err
		}
		for _, r := range done {
			if cfg.Log != nil {
				fmt.Fprintln(cfg.Log, r)
			}
		}
		return nil
	}
	held, err := eng.Held(ctx)
	if err != nil {
		return err
	}
	if held.Total() > 0 {
		return &HeldError{Held: held}
	}
	return nil
}

// with returns b (a new one when nil) with the baseline of mode m set.
func (b *Baselines) with(m shop.Mode, r *BaselineResult) *Baselines {
	if b == nil {
		b = &Baselines{}
	}
	switch m {
	case shop.ModeOrchestration:
		b.Orchestration = r
	case shop.ModeChoreography:
		b.Choreography = r
	}
	return b
}

// measure runs n units of t with a progress bar when one is asked for,
// and samples Redis's usage before and after (a sample that fails leaves
// the run without it).
func (cfg Config) measure(ctx context.Context, label string, n int, t Target) Run {
	var bar *Progress
	if cfg.Progress != nil {
		bar = StartProgress(cfg.Progress, label, n)
	}
	var before redisUsage
	sampled := false
	if cfg.redis != nil {
		var err error
		before, err = sampleRedis(ctx, cfg.redis)
		sampled = err == nil
	}
	r := Measure(ctx, t, n, cfg.Concurrency, bar.Add)
	bar.Stop()
	if sampled {
		if after, err := sampleRedis(ctx, cfg.redis); err == nil {
			d := after.minus(before)
			r.Redis = &d
		}
	}
	return r
}

// Check sums up one engine's run of the workload and checks its
// invariants once the engine has settled: verify must see every order
// placed (exactly those unless keep), none done twice, the stock and the
// ledger balanced. FAILED orders the workload planned are counted apart,
// not as violations. The experiments check their runs with it too.
func (work Workload) Check(ctx context.Context, eng *admin.EngineSet, m shop.Mode, run Run, keep bool) (Result, error) {
	res := Result{
		Mode: m, Stats: run.Stats(), Statuses: run.StatusCounts(),
		ExpectedStatuses: work.ExpectedStatuses(), Violations: []string{},
	}
	var err error
	if res.Retries, err = retries(ctx, eng, m, work); err != nil {
		return res, err
	}
	placed := len(work.Orders)
	vr, err := settledCheck(ctx, eng, m, placed, keep)
	if err != nil {
		return res, err
	}
	planned := work.PlannedFailed()
	for _, v := range vr.Violations {
		if v.Kind == shop.ViolationFailed && planned[v.OrderID] {
			res.PlannedFailed++
			continue
		}
		res.Violations = append(res.Violations, v.String())
	}
	switch {
	case keep && vr.Orders < placed:
		res.Violations = append(res.Violations, fmt.Sprintf("verify saw %d orders, fewer than the %d placed", vr.Orders, placed))
	case !keep && vr.Orders != placed:
		res.Violations = append(res.Violations, fmt.Sprintf("verify saw %d orders, but %d were placed since the reset", vr.Orders, placed))
	}
	res.InvariantsOK = len(res.Violations) == 0
	return res, nil
}

// settledCheck checks an engine's invariants once its queues have settled:
// an order's terminal status is written before the other services have
// acked the terminal event, and Temporal's visibility can lag a moment behind.
func settledCheck(ctx context.Context, eng *admin.EngineSet, m shop.Mode, placed int, keep bool) (verify.Report, error) {
	src := eng.Sources[m]
	err := poll.For(ctx, 10*time.Second, poll.Every(50*time.Millisecond), func(ctx context.Context) (bool, error) {
		extra, err := src.Extra(ctx)
		return len(extra) == 0, err
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return verify.Report{}, err
	}
	var r verify.Report
	tries := 0
	err = poll.Until(ctx, poll.Every(500*time.Millisecond), func(ctx context.Context) (bool, error) {
		var err error
		if r, err = verify.Check(ctx, eng.Redis, src, eng.Catalog, verify.Options{MaxHistories: 1000}); err != nil {
			return false, fmt.Errorf("verify %s: %w", m, err)
		}
		tries++
		return r.Orders >= placed && (keep || r.Orders == placed) || tries == 5, nil
	})
	return r, err
}

// retries sums, over the workload's orders with a transient fault, the
// attempts beyond the first that the participants counted.
func retries(ctx context.Context, eng *admin.EngineSet, m shop.Mode, work Workload) (int64, error) {
	var transient []shop.Order
	for _, o := range work.Orders {
		if HasTransient(o) {
			transient = append(transient, o)
		}
	}
	return Retries(ctx, eng, m, transient)
}

// Retries sums, over orders, the attempts of each participant operation
// beyond the first that the participants of mode m counted.
func Retries(ctx context.Context, eng *admin.EngineSet, m shop.Mode, orders []shop.Order) (int64, error) {
	prefix := eng.Sources[m].Prefix()
	var total atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, o := range orders {
		g.Go(func() error {
			st, err := activities.ReadOrderState(ctx, eng.Redis, prefix, o.ID)
			if err != nil {
				return err
			}
			for _, s := range st.Ops {
				total.Add(max(s.Attempts-1, 0))
			}
			return nil
		})
	}
	err := g.Wait()
	return total.Load(), err
}

// baseline measures the bare engine of mode m with the same N and
// concurrency, in two halves: one before the saga engine's run (saga), one
// after it. A server that slows down as work accumulates (the Temporal dev
// server does) then weighs on both alike, and their ratio stays fair.
func (cfg Config) baseline(ctx context.Context, eng *admin.EngineSet, m shop.Mode, work Workload, saga func()) (*BaselineResult, error) {
	ids := func(i int) string { return OrderID(work.Seed, work.Nonce, i) }
	var (
		name string
		part func(base, size int) (Run, error)
	)
	switch m {
	case shop.ModeOrchestration:
		t := &TemporalBaseline{Client: eng.Temporal, IDs: ids, WorkerOptions: worker.Options{
			MaxConcurrentActivityTaskPollers: 16, MaxConcurrentWorkflowTaskPollers: 16,
		}}
		if err := t.Start(); err != nil {
			return nil, err
		}
		defer t.Stop()
		name = BareTemporalName
		part = func(base, size int) (Run, error) {
			return cfg.measure(ctx, "bare Temporal", size, Offset{Target: t, Base: base}), nil
		}
	case shop.ModeChoreography:
		name = BareStreamsName
		part = func(base, size int) (Run, error) {
			p := &StreamPipeline{Redis: eng.Redis, Prefix: KeyPrefix, IDs: ids, PollMin: eng.Choreography.PollMin, PollMax: eng.Choreography.PollMax,
				Partitions: eng.Choreography.Bus().Layout().Partitions}
			if err := p.Start(ctx); err != nil {
				return Run{}, err
			}
			r := cfg.measure(ctx, "bare Redis Streams", size, Offset{Target: p, Base: base})
			return r, p.Stop(context.WithoutCancel(ctx))
		}
	default:
		return nil, fmt.Errorf("no baseline for mode %q", m)
	}
	return halves(len(work.Orders), part, saga, name)
}

// halves runs part on the first half of n units, then saga, then part on
// the rest, and combines the two parts.
func halves(n int, part func(base, size int) (Run, error), saga func(), name string) (*BaselineResult, error) {
	first := n / 2
	var runs []Run
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
	return &BaselineResult{Name: name, Stats: Combine(runs...).Stats()}, nil
}
