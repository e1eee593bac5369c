// Package experiment runs the experiments of `starter experiment NAME`:
// the trade-offs between orchestration and choreography, measured on the
// current stack. Each runs a seeded open-loop load (orders placed at a
// fixed rate, whatever the engine does) on both engines, one after the
// other, with the participants run in this process so that one of them
// can be stopped alone; it changes the stack the way the experiment says
// (a participant or a server down for a while, more consumers), samples
// what the engines hold over time, checks every invariant at the end
// through bench.Workload.Check and writes its report through bench's report writer
// (Markdown with SVG charts, HTML, JSON).
//
// Experiments: outage (a participant, or the coordinator, down for a
// while), scale (throughput and CPU per saga against the instances of each
// participant) and soak (a long steady load: memory and persistence stay
// bounded).
package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/shop"
)

// Names are the experiments, in the order `make experiments` runs them.
var Names = []string{"outage", "scale", "soak", "change"}

// experiments run each experiment on the engines.
var experiments = map[string]func(context.Context, *admin.EngineSet, Config) (*bench.Report, error){
	"outage": outage,
	"scale":  scale,
	"soak":   soak,
	"change": change,
}

// Services are what --service may take down in an outage: a participant
// or the coordinator (the Temporal server; Redis for the choreography).
var Services = []string{"payment", "coordinator"}

// Servers stops and starts the stack's servers: "temporal" (the Temporal
// server) and "redis" (every Redis node). A coordinator outage needs it.
type Servers interface {
	Stop(ctx context.Context, server string) error
	Start(ctx context.Context, server string) error
}

// Config is one experiment run.
type Config struct {
	Seed uint64
	// Rate is the placements per second of the load.
	Rate float64
	// Service is what an outage takes down: "payment" or "coordinator".
	Service string
	// Before, Outage and After are the load's three stretches: steady,
	// with the service down, steady again.
	Before, Outage, After time.Duration
	// Drain bounds the wait for the orders after the last placement.
	Drain time.Duration
	// PlaceTimeout bounds one placement (DefaultPlaceTimeout).
	PlaceTimeout time.Duration
	// Interval is how often the load's state is sampled.
	Interval time.Duration
	// Retention is the soak's retention window: finished orders are
	// settled that long after their end.
	Retention time.Duration
	// TemporalData is the Temporal server's persistence (the dev server's
	// database file, or a directory) whose size the soak samples.
	TemporalData string
	// Orders is how many orders scale places per step.
	Orders int
	// Instances are the consumers per choreography service and the
	// orchestration workers (scale: the largest of its steps; with
	// Partitions, the one number of them).
	Instances int
	// Partitions, when set, are the numbers of partitions scale measures
	// each engine at, one step each, instead of its steps of instances.
	Partitions []int
	// Bench resets the engines (or refuses engines that hold orders) as
	// `starter bench` does; its Command, Stack and Progress serve too.
	Bench bench.Config
	// Servers stops and starts the stack's servers (coordinator outage).
	Servers Servers
	// Procs names the server processes whose CPU time scale reads from
	// /proc, by name (redis, temporal, postgres).
	Procs map[string]int
	// Namespace is the Temporal namespace (for its task queues' backlog).
	Namespace string
	// Change is the change the change experiment rolls out (Changes).
	Change string
	// OldWorker and NewWorker are the worker binaries it rolls from and to.
	OldWorker, NewWorker string
	// WorkerEnv, when set, is the environment of a worker process that
	// runs service ("orchestration" for the orchestration's worker), on
	// top of this process's: its Redis user, the servers' addresses.
	WorkerEnv func(service string) []string
	// Log gets a line per stretch and engine.
	Log io.Writer
}

func (c Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

// Check refuses a configuration that cannot run, in one line.
func (c Config) Check(name string) error {
	switch {
	case experiments[name] == nil:
		return fmt.Errorf("unknown experiment %q: want one of %s", name, strings.Join(Names, ", "))
	case name != "scale" && len(c.Partitions) > 0:
		return errors.New("--partition-steps goes with scale only")
	case c.Rate <= 0 || c.Rate > 10_000:
		return fmt.Errorf("--rate must be above 0 and at most 10000, got %g", c.Rate)
	case name == "change":
		return c.checkChange()
	case name == "outage" && c.Service != "payment" && c.Service != "coordinator":
		return fmt.Errorf("--service must be payment or coordinator, got %q", c.Service)
	case name == "outage" && c.Service == "coordinator" && c.Servers == nil:
		return errors.New("--service coordinator needs --servers SCRIPT to stop and start the Temporal server and Redis")
	case c.Outage <= 0 || c.Before < 0 || c.After < 0:
		return errors.New("--for must be positive, --before and --after not negative")
	case name == "soak" && c.Retention <= 0:
		return errors.New("--retention must be positive")
	case name == "scale" && (c.Orders < 1 || c.Orders > bench.MaxOrders || c.Bench.Concurrency < 1):
		return fmt.Errorf("--orders must be from 1 to %d and --concurrency at least 1", bench.MaxOrders)
	case c.Instances < 1 || c.Instances > 64:
		return fmt.Errorf("--instances must be from 1 to 64, got %d", c.Instances)
	case len(c.Partitions) > 0:
		return c.checkPartitions()
	}
	return nil
}

// Run runs experiment name on the engines and returns its report; the
// report's OK says whether every invariant held.
func Run(ctx context.Context, eng *admin.EngineSet, name string, cfg Config) (*bench.Report, error) {
	if err := cfg.Check(name); err != nil {
		return nil, err
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.PlaceTimeout <= 0 {
		cfg.PlaceTimeout = DefaultPlaceTimeout
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 2 * time.Minute
	}
	if cfg.Bench.KeepState {
		return nil, errors.New("an experiment deletes its own orders between its runs: it cannot keep the engines' orders")
	}
	if err := cfg.Bench.Prepare(ctx, eng); err != nil {
		return nil, err
	}
	if cfg.Bench.Ready != nil {
		cfg.Bench.Ready()
	}
	return experiments[name](ctx, eng, cfg)
}

// newReport is the report of an experiment, before its results.
func newReport(ctx context.Context, eng *admin.EngineSet, cfg Config, title, workload string) *bench.Report {
	r := &bench.Report{
		Title: "ordersaga experiment: " + title, Command: cfg.Bench.Command, Date: time.Now(), Seed: cfg.Seed,
		Faults: "none", WorkloadText: workload, OK: true,
		Notes: "SAGAS/S is orders over the wall time from the first placement to the last end; latencies are from placement to terminal status (HDR histogram). " +
			"The load is open: orders are placed at the rate whatever the engine does, and a placement not answered within " + cfg.PlaceTimeout.String() + " counts as refused. " +
			"The engines ran one after the other, each right after a reset of its state, with their participants in the experiment's process.",
	}
	r.Machine = bench.DescribeMachine(ctx, eng, cfg.Bench.Stack)
	return r
}

// modesOf are the engine modes an experiment runs, in the engines' order.
func modesOf(eng *admin.EngineSet) []shop.Mode { return eng.Modes }
