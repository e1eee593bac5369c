// Package admin opens and wires both engines, the one way the worker, every
// starter command and the live page do (Open, Setup), and does what
// operators do to them: reset their state, read their stock, check their
// invariants and ask why an order does not move. The starter and the bench
// driver share it, so a reset is one thing whoever asks for it.
package admin

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/internal/platform/telemetry"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// Diagnoser says, in words a user can act on, why an order is not
// finishing: nothing when it finds no reason. Both engines have one.
type Diagnoser interface {
	Diagnose(ctx context.Context, orderID string) ([]string, error)
}

var (
	_ Diagnoser = (*workflows.Engine)(nil)
	_ Diagnoser = (*choreography.Engine)(nil)
)

// Options tune Open.
type Options struct {
	// ExpectDeadLetters is how many dead-lettered entries the choreography's
	// invariant check accepts (injected poison); any other count is a violation.
	ExpectDeadLetters int64
	// TracerProvider, when set, traces each placement (see PlaceAll) and
	// carries the trace on: into the workflow through the Temporal client's
	// tracing interceptor, into the events through their envelope.
	TracerProvider trace.TracerProvider
	// Log is where the choreography's node logs, and with LogTemporal the
	// Temporal client too; nil: nowhere.
	Log         *slog.Logger
	LogTemporal bool
}

// EngineSet is the set of engines one command works on, with their
// connections.
type EngineSet struct {
	Redis redis.UniversalClient
	// Temporal is nil when orchestration is not among the modes.
	Temporal client.Client
	Catalog  shop.Catalog
	Modes    []shop.Mode
	Sources  map[shop.Mode]verify.Source
	// Diagnosers are the same engines, asked why an order does not move.
	Diagnosers map[shop.Mode]Diagnoser
	// Orchestration is the orchestration engine, nil when it is not among the modes.
	Orchestration *workflows.Engine
	// Choreography is the choreography engine, nil when it is not among the modes.
	Choreography *choreography.Engine
	// Node is the choreography's node the engine runs on: its services run
	// on it too. Nil when choreography is not among the modes.
	Node *choreography.Node
	// tracer traces placements; nil: no spans.
	tracer trace.Tracer
}

// Open connects to what the modes need before anything is changed, so an
// unreachable server stops a command with nothing half-done. The caller
// closes the result.
func Open(ctx context.Context, cfg *config.Config, modes []shop.Mode, opts Options) (*EngineSet, error) {
	e := &EngineSet{Catalog: shop.DefaultCatalog(), Modes: modes,
		Sources: map[shop.Mode]verify.Source{}, Diagnosers: map[shop.Mode]Diagnoser{}}
	if _, err := cfg.PartitionCount(); err != nil {
		return nil, err
	}
	if opts.TracerProvider != nil {
		i, err := workflows.TracingInterceptor(opts.TracerProvider)
		if err != nil {
			return nil, err
		}
		traced := *cfg
		traced.TemporalInterceptors = append(slices.Clone(cfg.TemporalInterceptors), i)
		cfg = &traced
		e.tracer = opts.TracerProvider.Tracer(telemetry.ScopeName)
	}
	rdb, err := cfg.RedisThroughFailover(ctx)
	if err != nil {
		return nil, err
	}
	e.Redis = rdb
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	for _, m := range modes {
		if err := e.open(ctx, cfg, m, opts); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

func (e *EngineSet) open(ctx context.Context, cfg *config.Config, m shop.Mode, opts Options) error {
	node, err := Setup{Catalog: e.Catalog, Partitions: cfg.Partitions, Log: opts.Log}.Prepare(ctx, e.Redis, m)
	if err != nil {
		return err
	}
	switch m {
	case shop.ModeOrchestration:
		log := slog.New(slog.DiscardHandler)
		if opts.LogTemporal {
			log = opts.Log.With("component", "temporal")
		}
		tc, err := cfg.Temporal(ctx, log)
		if err != nil {
			return err
		}
		e.Temporal = tc
		eng := workflows.NewEngine(tc, e.Catalog)
		e.Orchestration = eng
		e.Sources[m], e.Diagnosers[m] = eng.WithRedis(e.Redis), eng
	case shop.ModeChoreography:
		e.useChoreography(node, opts.ExpectDeadLetters)
	}
	return nil
}

// useChoreography makes the choreography engine on node e's.
func (e *EngineSet) useChoreography(node *choreography.Node, expectDeadLetters int64) {
	eng := choreography.NewEngine(node, e.Catalog)
	eng.ExpectDeadLetters = expectDeadLetters
	e.Node, e.Choreography = node, eng
	e.Sources[shop.ModeChoreography], e.Diagnosers[shop.ModeChoreography] = eng, eng
}

// Setup is how an engine's state is laid out in Redis.
type Setup struct {
	Catalog shop.Catalog
	// Partitions is the configured number of partitions, 0 for the
	// recorded one (see config.Config.PartitionCount).
	Partitions int
	// Log is where the choreography's node logs.
	Log *slog.Logger
}

// Prepare lays out mode m's state in rdb: the number of partitions recorded
// (another number than the recorded one is refused), the choreography's
// consumer groups created, the catalog's stock seeded where it is not yet.
// Every process does this the same way before it uses an engine, and it
// changes nothing that is set up already. For choreography it returns the
// node the engine and its services run on; nil otherwise.
func (s Setup) Prepare(ctx context.Context, rdb redis.UniversalClient, m shop.Mode) (*choreography.Node, error) {
	switch m {
	case shop.ModeOrchestration:
		if _, err := activities.EnsurePartitions(ctx, rdb, activities.OrchestrationPrefix, s.Partitions); err != nil {
			return nil, err
		}
		return nil, activities.Seed(ctx, rdb, activities.OrchestrationPrefix, s.Catalog)
	case shop.ModeChoreography:
		log := s.Log
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		node := choreography.NewNode(rdb, s.Catalog, log, choreography.WithPartitions(s.Partitions))
		if err := node.Bus.Setup(ctx); err != nil {
			return nil, err
		}
		return node, activities.Seed(ctx, rdb, activities.ChoreographyPrefix, s.Catalog)
	}
	return nil, fmt.Errorf("unknown mode %q", m)
}

// Close closes the connections.
func (e *EngineSet) Close() {
	if e.Choreography != nil {
		e.Choreography.Close()
	}
	if e.Temporal != nil {
		e.Temporal.Close()
	}
	if e.Redis != nil {
		_ = e.Redis.Close()
	}
}

// Stock returns the available stock per mode and SKU.
func (e *EngineSet) Stock(ctx context.Context) (map[shop.Mode]map[string]int64, error) {
	levels := map[shop.Mode]map[string]int64{}
	for _, m := range e.Modes {
		s, err := activities.Stock(ctx, e.Redis, e.Sources[m].Prefix(), e.Catalog)
		if err != nil {
			return nil, err
		}
		levels[m] = s
	}
	return levels, nil
}

// Notifications returns the notifications of every mode, newest first, at
// most limit per mode (0: all kept).
func (e *EngineSet) Notifications(ctx context.Context, limit int64) (map[shop.Mode][]activities.Notification, error) {
	out := map[shop.Mode][]activities.Notification{}
	for _, m := range e.Modes {
		n, err := activities.Notifications(ctx, e.Redis, e.Sources[m].Prefix(), limit)
		if err != nil {
			return nil, fmt.Errorf("notifications of %s: %w", m, err)
		}
		out[m] = n
	}
	return out, nil
}

// Verify checks the invariants of every mode.
func (e *EngineSet) Verify(ctx context.Context, opts verify.Options) ([]verify.Report, error) {
	var reports []verify.Report
	for _, m := range e.Modes {
		r, err := verify.Check(ctx, e.Redis, e.Sources[m], e.Catalog, opts)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", m, err)
		}
		reports = append(reports, r)
	}
	return reports, nil
}
