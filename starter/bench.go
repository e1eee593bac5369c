package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/ordersaga/ordersaga/internal/bench"
	"github.com/ordersaga/ordersaga/internal/cli"
	"github.com/ordersaga/ordersaga/shop"
)

const benchSummary = "Place N seeded orders with C in flight on each engine of --mode, one engine after the other, and report\n" +
	"throughput, latency percentiles, outcomes and retries, then check the invariants. Every order has 1–3 distinct SKUs\n" +
	"(never the scarce poster) with quantities 1–5; --faults gives each order a fault with a probability, e.g.\n" +
	"payment=decline:0.1,shipping=transient:0.05,payment=delay:20ms:0.1 (TARGET as for --fail, bare transient means transient:1).\n" +
	"Each engine's state is reset first (like 'stock --reset'), so verify sees only this run. Orders the workload plans to\n" +
	"end FAILED (a declined compensation) are expected, not violations. Exits 1 when an invariant breaks, an order does not\n" +
	"finish, or with --mode both the two engines' outcome counts differ. --baseline also measures the bare engines on the\n" +
	"same servers (a no-op 3-activity Temporal workflow, a 4-hop Redis Streams pipeline) and prints our/bare ratios"

type benchFlags struct {
	runFlags
	cfg                bench.Config
	orders             int
	seed               uint64
	faults, reportFile string
}

func (a *app) benchCmd() *cobra.Command {
	var f benchFlags
	cmd := newCmd("bench [--mode M] --orders N --concurrency C --seed S [--faults TARGET=KIND:PROB,…] [--baseline] [--json] [--report FILE.md]",
		"measure both engines on one seeded workload; --baseline compares with the bare engines", benchSummary, cli.NoArgs,
		func(cmd *cobra.Command, args []string) error { return a.bench(cmd, f) })
	f.add(cmd, "print one JSON document on stdout, and no progress bar", 30*time.Minute, "give up after this long")
	fs := cmd.Flags()
	fs.IntVar(&f.orders, "orders", 1000, "orders per engine")
	fs.IntVar(&f.cfg.Concurrency, "concurrency", 64, "sagas in flight")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the workload: the same seed gives the same orders and faults")
	fs.StringVar(&f.faults, "faults", "", "comma-separated TARGET=KIND:PROB, e.g. payment=decline:0.1,shipping=transient:0.05")
	fs.StringVar(&f.reportFile, "report", "", "also write a Markdown report to this file")
	fs.BoolVar(&f.cfg.Baseline, "baseline", false, "also measure the bare engines and print our/bare ratios")
	fs.BoolVar(&f.cfg.KeepState, "keep-state", false, "do not reset the engines' state first (verify then sees earlier orders too)")
	fs.BoolVar(&f.cfg.Force, "force", false, "reset even while orders are in flight")
	return cmd
}

// check refuses bad flags before anything is connected.
func (f benchFlags) check() error {
	switch {
	case f.orders < 1 || f.orders > bench.MaxOrders:
		return usagef("--orders must be from 1 to %d, got %d", bench.MaxOrders, f.orders)
	case f.cfg.Concurrency < 1 || f.cfg.Concurrency > 10_000:
		return usagef("--concurrency must be from 1 to 10000, got %d", f.cfg.Concurrency)
	case f.cfg.Force && f.cfg.KeepState:
		return usagef("--force goes with a reset, not with --keep-state")
	case f.timeout <= 0:
		return usagef("--timeout must be positive")
	}
	if f.reportFile != "" {
		if st, err := os.Stat(filepath.Dir(f.reportFile)); err != nil || !st.IsDir() {
			return usagef("--report %s: no such directory", f.reportFile)
		}
	}
	return nil
}

func (a *app) bench(cmd *cobra.Command, f benchFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	rules, err := bench.ParseFaults(f.faults)
	if err != nil {
		return usagef("--faults: %s", cli.OneLine(err))
	}
	nonce := strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	work, err := bench.Generate(f.seed, nonce, f.orders, rules, shop.DefaultCatalog())
	if err != nil {
		return usagef("%s", cli.OneLine(err))
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	eng, err := a.open(ctx, f.mode.List)
	if err != nil {
		return err
	}
	defer eng.Close()
	f.cfg.Command = benchCommandLine(a.args[slices.Index(a.args, "bench")+1:])
	if !f.asJSON {
		fmt.Fprintf(a.stdout, "workload: %d orders, seed %d, %d in flight, faults %s; planned: %s\n",
			f.orders, f.seed, f.cfg.Concurrency, bench.FormatFaults(rules), bench.CountsText(work.ExpectedStatuses()))
		f.cfg.Log = a.stdout
		if bench.IsTerminal(a.stderr) {
			f.cfg.Progress = a.stderr
		}
	}
	rep, err := bench.Drive(ctx, eng, f.cfg, work)
	if err != nil {
		return err
	}
	if f.reportFile != "" {
		var buf bytes.Buffer
		if err := rep.WriteMarkdown(&buf); err != nil {
			return err
		}
		if err := os.WriteFile(f.reportFile, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	if f.asJSON {
		err = a.printJSON(rep)
	} else {
		fmt.Fprintln(a.stdout)
		err = rep.WriteText(a.stdout)
		if err == nil && f.reportFile != "" {
			fmt.Fprintf(a.stdout, "report written to %s\n", f.reportFile)
		}
	}
	if err == nil && !rep.OK {
		err = cli.ErrReported
	}
	return err
}

// benchCommandLine is the command line that ran bench: the process's own
// when it ran this command, otherwise (a test) one rebuilt from args.
func benchCommandLine(args []string) string {
	words := append([]string{"starter", "bench"}, args...)
	if k := len(os.Args) - len(args); k >= 2 && os.Args[k-1] == "bench" && slices.Equal(os.Args[k:], args) {
		words = append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...)
	}
	for i, w := range words {
		if w == "" || strings.ContainsFunc(w, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@%+", r))
		}) {
			words[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return strings.Join(words, " ")
}
