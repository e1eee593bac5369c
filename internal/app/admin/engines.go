// Package admin opens both engines the way the command-line tools need
// them and does what operators do to them: reset their state, read their
// stock, check their invariants and ask why an order does not move. The
// starter and the bench driver share it, so a reset is one thing whoever
// asks for it.
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
}

// Engines holds the connections and engines of one command.
type Engines struct {
	Redis redis.UniversalClient
	// Temporal is nil when orchestration is not among the modes.
	Temporal client.Client
	Catalog  shop.Catalog
	Modes    []shop.Mode
	Sources  map[shop.Mode]verify.Source
	// Diagnosers are the same engines, asked why an order does not move.
	Diagnosers map[shop.Mode]Diagnoser
	// Choreography is the choreography engine, nil when it is not among the modes.
	Choreography *choreography.Engine
	// tracer traces placements; nil: no spans.
	tracer trace.Tracer
}

// Open connects to what the modes need before anything is changed, so an
// unreachable server stops a command with nothing half-done. The caller
// closes the result.
func Open(ctx context.Context, cfg *config.Config, modes []shop.Mode, opts Options) (*Engines, error) {
	e := &Engines{Catalog: shop.DefaultCatalog(), Modes: modes,
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
	quiet := slog.New(slog.DiscardHandler)
	for _, m := range modes {
		if err := e.open(ctx, cfg, m, opts, quiet); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

func (e *Engines) open(ctx context.Context, cfg *config.Config, m shop.Mode, opts Options, log *slog.Logger) error {
	switch m {
	case shop.ModeOrchestration:
		if _, err := activities.EnsurePartitions(ctx, e.Redis, activities.OrchestrationPrefix, cfg.Partitions); err != nil {
			return err
		}
		tc, err := cfg.Temporal(ctx, log)
		if err != nil {
			return err
		}
		e.Temporal = tc
		eng := workflows.NewEngine(tc, e.Catalog)
		e.Sources[m], e.Diagnosers[m] = eng.WithRedis(e.Redis), eng
	case shop.ModeChoreography:
		node := choreography.NewNode(e.Redis, e.Catalog, log, choreography.WithPartitions(cfg.Partitions))
		if err := node.Bus.Setup(ctx); err != nil {
			return err
		}
		if err := activities.Seed(ctx, e.Redis, activities.ChoreographyPrefix, e.Catalog); err != nil {
			return err
		}
		eng := choreography.NewEngine(node, e.Catalog)
		eng.ExpectDeadLetters = opts.ExpectDeadLetters
		e.Choreography = eng
		e.Sources[m], e.Diagnosers[m] = eng, eng
	}
	return nil
}

// Close closes the connections.
func (e *Engines) Close() {
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
func (e *Engines) Stock(ctx context.Context) (map[shop.Mode]map[string]int64, error) {
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

// Verify checks the invariants of every mode.
func (e *Engines) Verify(ctx context.Context, opts verify.Options) ([]verify.Report, error) {
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
