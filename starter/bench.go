package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/internal/app/cli"
	"github.com/ordersaga/ordersaga/shop"
)

const benchSummary = "Place N seeded orders with C in flight on each engine of --mode, one engine after the other, and report\n" +
	"throughput, latency percentiles, outcomes and retries, then check the invariants. Every order has 1–3 distinct SKUs\n" +
	"(never the scarce poster) with quantities 1–5, placed by a named customer and below the fraud check's limit (only a\n" +
	"fraud=decline:P rule refuses orders); --faults gives each order a fault with a probability, e.g.\n" +
	"payment=decline:0.1,shipping=transient:0.05,payment=delay:20ms:0.1 (TARGET as for --fail, bare transient means transient:1).\n" +
	"bench deletes nothing unless --reset asks it to: on engines that hold orders it places none and exits 2 (saying how\n" +
	"many orders a reset would delete), unless --reset deletes them first or --keep-state runs on top of them (verify then\n" +
	"counts them too). On engines that hold no orders it just runs, and verify sees only this run. Orders the workload plans to\n" +
	"end FAILED (a declined compensation) are expected, not violations. Exits 1 when an invariant breaks, an order does not\n" +
	"finish, or with --mode both the two engines' outcome counts differ. --baseline also measures the bare engines on the\n" +
	"same servers (a no-op Temporal workflow of one activity per step, a Redis Streams pipeline of one hop per service) and\n" +
	"prints our/bare ratios.\n" +
	"--report FILE (repeatable) writes a report by FILE's extension: .html is one page with the charts inline, .json the\n" +
	"--json document, anything else Markdown with its charts as SVG files next to it (FILE-latency-MODE.svg, …)"

type benchFlags struct {
	runFlags
	cfg     bench.Config
	orders  int
	seed    uint64
	faults  string
	reports []string
	profile string
}

func (a *app) benchCmd() *cobra.Command {
	var f benchFlags
	cmd := newCmd("bench [--mode M] --orders N --concurrency C --seed S [--faults TARGET=KIND:PROB,…] [--baseline] [--reset [--force] | --keep-state] [-o FORMAT] [--report FILE.md|.html|.json]…",
		"measure both engines on one seeded workload; deletes no order without --reset", benchSummary, cli.NoArgs,
		func(cmd *cobra.Command, args []string) error { return a.bench(cmd, f) })
	f.add(cmd, "print one JSON document on stdout, and no progress bar", 30*time.Minute, "give up after this long")
	cli.SetExitStatus(cmd, "  0  the run finished and every invariant held\n  1  an invariant broke, an order did not finish, the engines' counts differ, or another error\n"+
		"  2  a usage error, or the engines hold orders of earlier runs (give --reset or --keep-state)\n")
	fs := cmd.Flags()
	fs.IntVar(&f.orders, "orders", 1000, "orders per engine")
	fs.IntVar(&f.cfg.Concurrency, "concurrency", 64, "sagas in flight")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the workload: the same seed gives the same orders and faults")
	fs.StringVar(&f.faults, "faults", "", "comma-separated TARGET=KIND:PROB, e.g. payment=decline:0.1,shipping=transient:0.05")
	fs.StringArrayVar(&f.reports, "report", nil, "also write a report with charts to this file: .html, .json or else Markdown with SVG files next to it (repeatable)")
	fs.StringVar(&f.cfg.Stack, "stack", "", "what to call the stack measured in the reports, e.g. \"make up\" (the servers' versions and persistence are added)")
	fs.BoolVar(&f.cfg.Baseline, "baseline", false, "also measure the bare engines and print our/bare ratios")
	fs.StringVar(&f.profile, "cpu-profile", "", "write the starter's own CPU profile over the run to this file (for go tool pprof)")
	fs.BoolVar(&f.cfg.Reset, "reset", false, "before the run, reset the engines of --mode: "+admin.ResetDeletes)
	fs.BoolVar(&f.cfg.KeepState, "keep-state", false, "bench on top of the orders the engines hold, deleting nothing (verify then counts them too)")
	fs.BoolVar(&f.cfg.Force, "force", false, "with --reset: delete orders still in flight too, mid-saga")
	return cmd
}

// check refuses bad flags before anything is connected.
func (f benchFlags) check() error {
	switch {
	case f.orders < 1 || f.orders > bench.MaxOrders:
		return usagef("--orders must be from 1 to %d, got %d", bench.MaxOrders, f.orders)
	case f.cfg.Concurrency < 1 || f.cfg.Concurrency > 10_000:
		return usagef("--concurrency must be from 1 to 10000, got %d", f.cfg.Concurrency)
	case f.cfg.Reset && f.cfg.KeepState:
		return usagef("--reset deletes the orders --keep-state keeps: pass one of them")
	case f.cfg.Force && !f.cfg.Reset:
		return usagef("--force goes with --reset")
	case f.timeout <= 0:
		return usagef("--timeout must be positive")
	}
	for _, r := range f.reports {
		if r == "" {
			return usagef("--report needs a file name")
		}
		if st, err := os.Stat(filepath.Dir(r)); err != nil || !st.IsDir() {
			return usagef("--report %s: no such directory", r)
		}
	}
	if f.profile != "" {
		if st, err := os.Stat(filepath.Dir(f.profile)); err != nil || !st.IsDir() {
			return usagef("--cpu-profile %s: no such directory", f.profile)
		}
	}
	if err := shop.CheckText("--stack", f.cfg.Stack, maxStackLen); err != nil {
		return usagef("%v", err)
	}
	return nil
}

// maxStackLen bounds --stack, which every report prints.
const maxStackLen = 200

func (a *app) bench(cmd *cobra.Command, f benchFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	rules, err := bench.ParseFaults(f.faults)
	if err != nil {
		return usagef("--faults: %s", shop.OneLine(err))
	}
	nonce := strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	work, err := bench.Generate(f.seed, nonce, f.orders, rules, shop.DefaultCatalog())
	if err != nil {
		return usagef("%s", shop.OneLine(err))
	}
	return a.withEngines(cmd.Context(), f.timeout, f.mode.List, a.traced(), func(ctx context.Context, eng *admin.EngineSet) error {
		f.cfg.Command = bench.CommandLine(a.args[slices.Index(a.args, "bench")+1:])
		if !f.out.JSON() {
			f.cfg.Ready = func() {
				fmt.Fprintf(a.stdout, "workload: %d orders, seed %d, %d in flight, faults %s; planned: %s\n",
					f.orders, f.seed, f.cfg.Concurrency, bench.FormatFaults(rules), bench.CountsText(work.ExpectedStatuses()))
			}
			f.cfg.Log = a.stdout
			if bench.IsTerminal(a.stderr) {
				f.cfg.Progress = a.stderr
			}
		}
		rep, err := a.drive(ctx, eng, f, work)
		return a.report(rep, err, f.runFlags, f.reports)
	})
}

// report ends a bench or experiment run: a held stack is a usage error;
// otherwise the report goes to each --report file, then to stdout as JSON
// or as text with the files written, and a broken invariant fails the
// command (ErrReported: the report said why).
func (a *app) report(rep *bench.Report, err error, f runFlags, files []string) error {
	if held, ok := errors.AsType[*bench.HeldError](err); ok {
		return usagef("%s", held)
	}
	if err != nil {
		return err
	}
	written, err := rep.WriteReports(files)
	if err != nil {
		return err
	}
	if f.out.JSON() {
		err = a.printJSON(f.out, rep)
	} else {
		fmt.Fprintln(a.stdout)
		err = rep.WriteText(a.stdout)
		for _, line := range written {
			if err == nil {
				_, err = fmt.Fprintln(a.stdout, line)
			}
		}
	}
	if err == nil && !rep.OK {
		err = cli.ErrReported
	}
	return err
}

// drive runs the workload, under the CPU profile of --cpu-profile.
func (a *app) drive(ctx context.Context, eng *admin.EngineSet, f benchFlags, work bench.Workload) (*bench.Report, error) {
	stopProfile, err := bench.StartCPUProfile(f.profile)
	if _, ok := errors.AsType[*fs.PathError](err); ok {
		return nil, usagef("--cpu-profile: %s", shop.OneLine(err))
	} else if err != nil {
		return nil, err
	}
	rep, err := bench.Drive(ctx, eng, f.cfg, work)
	if err := stopProfile(); err != nil {
		return nil, err
	}
	return rep, err
}
