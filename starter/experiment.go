package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/internal/app/cli"
	"github.com/ordersaga/ordersaga/internal/app/experiment"
	"github.com/ordersaga/ordersaga/shop"
)

const experimentSummary = "Run a named experiment on both engines of --mode on the current stack, one engine after the other, with the\n" +
	"participants run in this process, or for change in worker processes it starts (stop the stack's own worker processes\n" +
	"first: they would consume the same work):\n" +
	"  outage   a steady load at --rate, then --service down for --for, then back: payment stops the choreography's\n" +
	"           payment service and the orchestration's payment worker (its own task queue); coordinator stops the\n" +
	"           Temporal server against Redis through --servers SCRIPT (called as SCRIPT stop|start temporal|redis)\n" +
	"  scale    --orders with --concurrency in flight on 1, 2, 4 … --instances of each participant: throughput, p99,\n" +
	"           CPU per saga of Redis (INFO cpu), of the --proc NAME=PID servers (/proc) and of this process, and the\n" +
	"           capacity model drawn from them; with --partition-steps LIST (e.g. 1,3,12), at each number of partitions\n" +
	"           instead, with --instances of each participant: each step deletes the engines' orders and records its\n" +
	"           number, the stack's own is recorded again at the end; on a Redis Cluster, Redis's CPU per master too\n" +
	"  soak     a steady load at --rate for --for with the engines' retention at --retention: Redis's used memory, the\n" +
	"           streams' entries and the size of --temporal-data over time\n" +
	"  change   --change notify|fraud rolled out with orders in flight: --instances worker processes of --old-worker\n" +
	"           (the build before the change) replaced one by one by --new-worker's while --orders are placed at --rate,\n" +
	"           each with its own Redis user where ORDERSAGA_REDIS_URL_<SERVICE> names one; orders started before the change\n" +
	"           must finish on the old path, those placed after the rollout take the new one\n" +
	"Every order is checked at the end (verify: terminal, nothing lost or done twice). Like bench it deletes nothing\n" +
	"unless --reset asks it to: engines that hold orders are refused. It deletes its own orders between its runs.\n" +
	"--report FILE (repeatable) writes a report by FILE's extension, as bench does (.md with SVG charts, .html, .json).\n" +
	"'experiment page FILE DIR' rewrites the generated blocks of the Markdown page FILE (from <!-- experiment: NAME -->\n" +
	"to <!-- /experiment -->) from the reports DIR/NAME.json; 'experiment changes' lists the changes change rolls out: name,\n" +
	"the git revision of the build before it, what it is"

type experimentFlags struct {
	runFlags
	cfg     experiment.Config
	reports []string
	servers string
	procs   map[string]int
}

func (a *app) experimentCmd() *cobra.Command {
	var f experimentFlags
	cmd := newCmd("experiment NAME [--mode M] [--rate R] [--service payment|coordinator --for D] [--change C --old-worker BIN] [--reset [--force]] [--report FILE]…",
		"measure a trade-off on both engines (outage, scale, soak, change); deletes no order without --reset", experimentSummary, oneExperiment,
		func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case "page":
				return experiment.Page(args[1], args[2])
			case "changes":
				for _, c := range experiment.Changes {
					fmt.Fprintf(a.stdout, "%s %s %s\n", c.Name, c.Before, c.What)
				}
				return nil
			}
			return a.experiment(cmd, args[0], f)
		})
	f.add(cmd, "print the report as one JSON document on stdout", time.Hour, "give up after this long")
	cli.SetExitStatus(cmd, "  0  the experiment ran and every invariant held\n  1  an invariant broke, an order did not finish, or another error\n"+
		"  2  a usage error, or the engines hold orders of earlier runs (give --reset)\n")
	fs := cmd.Flags()
	fs.Uint64Var(&f.cfg.Seed, "seed", 1, "seed of the workload")
	fs.Float64Var(&f.cfg.Rate, "rate", 50, "orders placed per second")
	fs.StringVar(&f.cfg.Service, "service", "payment", "outage: what goes down, payment or coordinator")
	fs.DurationVar(&f.cfg.Outage, "for", 30*time.Second, "outage: how long it stays down; soak: how long the load runs")
	fs.DurationVar(&f.cfg.Before, "before", 20*time.Second, "steady load before the outage")
	fs.DurationVar(&f.cfg.After, "after", 30*time.Second, "steady load after the outage")
	fs.DurationVar(&f.cfg.Drain, "drain", 3*time.Minute, "how long to wait for the orders after the last placement")
	fs.DurationVar(&f.cfg.Interval, "interval", time.Second, "how often the engines' state is sampled")
	fs.DurationVar(&f.cfg.PlaceTimeout, "place-timeout", experiment.DefaultPlaceTimeout, "a placement not answered within this counts as refused")
	fs.IntVar(&f.cfg.Instances, "instances", 1, "consumers per choreography service and orchestration workers (scale: the most, from 1 doubling; change: the old workers replaced one by one, default 2)")
	fs.IntVar(&f.cfg.Orders, "orders", 1000, "scale: orders per step; change: orders in all (default 300)")
	fs.DurationVar(&f.cfg.Retention, "retention", time.Minute, "soak: finished orders are settled this long after their end")
	fs.StringVar(&f.cfg.TemporalData, "temporal-data", "", "soak: the Temporal server's database file or directory, whose size it samples")
	fs.IntVar(&f.cfg.Bench.Concurrency, "concurrency", 64, "scale: sagas in flight")
	fs.IntSliceVar(&f.cfg.Partitions, "partition-steps", nil, "scale: measure at each of these numbers of partitions (e.g. 1,3,12) rather than against instances; "+
		"the engines' orders are deleted before each step and the stack's own number recorded again at the end")
	fs.StringToIntVar(&f.procs, "proc", nil, "scale: NAME=PID of a server process whose CPU time to read from /proc (temporal, temporal-server, postgres; repeatable)")
	fs.StringVar(&f.servers, "servers", "", "a script that stops and starts the stack's servers: SCRIPT stop|start temporal|redis (scripts/stack-servers.sh on make up)")
	fs.StringArrayVar(&f.reports, "report", nil, "also write a report to this file: .html, .json or else Markdown with SVG files next to it (repeatable)")
	fs.StringVar(&f.cfg.Change, "change", "", "change: the change rolled out, "+strings.Join(experiment.ChangeNames(), " or "))
	fs.StringVar(&f.cfg.OldWorker, "old-worker", "", "change: the worker binary of the build before the change (make experiments builds it from the commit docs/changing.md names)")
	fs.StringVar(&f.cfg.NewWorker, "new-worker", "", "change: the worker binary of the new build (default: the worker next to this starter)")
	fs.StringVar(&f.cfg.Bench.Stack, "stack", "", "what to call the stack measured in the reports, e.g. \"make up\"")
	fs.BoolVar(&f.cfg.Bench.Reset, "reset", false, "before the experiment, reset the engines of --mode: "+admin.ResetDeletes)
	fs.BoolVar(&f.cfg.Bench.Force, "force", false, "with --reset: delete orders still in flight too, mid-saga")
	return cmd
}

// oneExperiment takes the experiment's name, or "page FILE DIR".
func oneExperiment(_ *cobra.Command, args []string) error {
	if len(args) == 3 && args[0] == "page" {
		return nil
	}
	if len(args) != 1 {
		return usagef("experiment takes one name (%s), got %d arguments", strings.Join(experiment.Names, ", "), len(args))
	}
	return nil
}

// check refuses bad flags before anything is connected.
func (f *experimentFlags) check(name string) error {
	if f.servers != "" {
		if st, err := os.Stat(f.servers); err != nil || st.IsDir() {
			return usagef("--servers %s: no such file", f.servers)
		}
		f.cfg.Servers = scriptServers(f.servers)
	}
	f.cfg.Procs = f.procs
	if err := f.cfg.Check(name); err != nil {
		return usagef("%s", shop.OneLine(err))
	}
	switch {
	case f.cfg.Bench.Force && !f.cfg.Bench.Reset:
		return usagef("--force goes with --reset")
	case f.timeout <= 0 || f.cfg.Drain <= 0 || f.cfg.Interval <= 0 || f.cfg.PlaceTimeout <= 0:
		return usagef("--timeout, --drain, --interval and --place-timeout must be positive")
	}
	for _, r := range f.reports {
		if st, err := os.Stat(filepath.Dir(r)); r == "" || err != nil || !st.IsDir() {
			return usagef("--report %q: no such directory", r)
		}
	}
	return nil
}

func (a *app) experiment(cmd *cobra.Command, name string, f experimentFlags) error {
	if name == "change" {
		f.changeDefaults(cmd)
	}
	if err := f.check(name); err != nil {
		return err
	}
	return a.withEngines(cmd.Context(), f.timeout, f.mode.List, admin.Options{}, func(ctx context.Context, eng *admin.EngineSet) error {
		f.cfg.Bench.Command = bench.CommandLineOf("experiment", a.args[slices.Index(a.args, "experiment")+1:])
		f.cfg.Namespace = a.cfg.Namespace
		f.cfg.WorkerEnv = a.cfg.ServiceEnv
		if !f.out.JSON() {
			f.cfg.Log = a.stdout
		}
		rep, err := experiment.Run(ctx, eng, name, f.cfg)
		return a.report(rep, err, f.runFlags, f.reports)
	})
}

// changeDefaults are the change experiment's own defaults: two old
// workers, 300 orders at 10/s, the new build the worker next to this
// starter.
func (f *experimentFlags) changeDefaults(cmd *cobra.Command) {
	fs := cmd.Flags()
	if !fs.Changed("instances") {
		f.cfg.Instances = 2
	}
	if !fs.Changed("orders") {
		f.cfg.Orders = 300
	}
	if !fs.Changed("rate") {
		f.cfg.Rate = 10
	}
	if f.cfg.NewWorker == "" {
		if self, err := os.Executable(); err == nil {
			f.cfg.NewWorker = filepath.Join(filepath.Dir(self), "worker")
		}
	}
}

// scriptServers stops and starts the stack's servers by running a script:
// SCRIPT stop|start temporal|redis.
type scriptServers string

func (s scriptServers) Stop(ctx context.Context, server string) error {
	return s.run(ctx, "stop", server)
}
func (s scriptServers) Start(ctx context.Context, server string) error {
	return s.run(ctx, "start", server)
}

func (s scriptServers) run(ctx context.Context, verb, server string) error {
	out, err := exec.CommandContext(ctx, string(s), verb, server).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s %s: %w: %s", s, verb, server, err, strings.TrimSpace(string(out)))
	}
	return nil
}
