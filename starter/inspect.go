package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/internal/app/cli"
	"github.com/ordersaga/ordersaga/internal/app/render"
	"github.com/ordersaga/ordersaga/internal/app/verify"
	"github.com/ordersaga/ordersaga/shop"
)

// orderArg checks the single ORDER_ID argument of status and history.
func orderArg(cmd *cobra.Command, args []string) error {
	name := cmd.Name()
	switch {
	case len(args) == 0:
		return usagef("%s needs an ORDER_ID (see 'starter %s --help')", name, name)
	case len(args) > 1:
		return usagef("%s takes one ORDER_ID, got %d arguments", name, len(args))
	case !shop.ValidOrderID(args[0]):
		return usagef("%q is not an order ID", args[0])
	}
	return nil
}

// lookup is a command about one order: its use line and help, the flag
// that keeps it going (live) and its usage, and what it runs.
type lookup struct {
	use, short, long    string
	liveFlag, liveUsage string
	run                 func(ctx context.Context, eng *admin.EngineSet, id string, live bool, out *cli.Output) error
}

// lookupCmd is a command about one order (status, history): with --mode,
// --json and a flag that keeps it going (live) until the order is terminal.
func (a *app) lookupCmd(l lookup) *cobra.Command {
	var mode *cli.Modes
	var live *bool
	var out *cli.Output
	cmd := newCmd(l.use, l.short, l.long, orderArg, func(cmd *cobra.Command, args []string) error {
		timeout := 30 * time.Second
		if *live {
			timeout = 0
		}
		return a.withEngines(cmd.Context(), timeout, mode.List, a.traced(), func(ctx context.Context, eng *admin.EngineSet) error {
			return l.run(ctx, eng, args[0], *live, out)
		})
	})
	mode = cli.Mode(cmd)
	live = cmd.Flags().Bool(l.liveFlag, false, l.liveUsage)
	out = cli.JSON(cmd.Flags())
	return cmd
}

func (a *app) statusCmd() *cobra.Command {
	cmd := a.lookupCmd(lookup{
		use:      "status ORDER_ID [--mode M] [--watch] [-o FORMAT]",
		short:    "show an order's current status and step",
		long:     "Show an order's current status and step on each engine; --watch redraws it until the order is terminal everywhere, saying why when it does not move",
		liveFlag: "watch", liveUsage: "redraw until the order is terminal on every engine (with -o json or jsonl: one JSON document per line and change)",
		run: a.status,
	})
	cli.SetExitStatus(cmd, exitStatusOutcome)
	return cmd
}

func (a *app) status(ctx context.Context, eng *admin.EngineSet, id string, watch bool, out *cli.Output) error {
	if !watch {
		s, err := eng.Snapshot(ctx, id, 0)
		if err != nil {
			return err
		}
		if out.JSON() {
			err = a.printJSON(out, map[string]any{"results": render.StatusResults(s, a.uiURL)})
		} else {
			_, err = io.WriteString(a.stdout, render.Status(render.StatusResults(s, a.uiURL)))
		}
		if err != nil {
			return err
		}
		return needsRepair(id, snapshotStatus(s))
	}
	var final admin.Snapshot
	screen, last := &render.Redrawer{W: a.stdout, TTY: bench.IsTerminal(a.stdout)}, ""
	err := eng.Watch(ctx, id, 500*time.Millisecond, func(s admin.Snapshot) {
		final = s
		results := render.StatusResults(s, a.uiURL)
		if !out.JSON() {
			screen.DrawKeyed(render.Status(results), render.StatusKey(results))
			return
		}
		if key := render.StatusKey(results); key != last {
			cli.PrintJSONLine(a.stdout, map[string]any{"results": results})
			last = key
		}
	})
	if err != nil {
		return err
	}
	return needsRepair(id, snapshotStatus(final))
}

// snapshotStatus is the status of the order on each engine that knows it.
func snapshotStatus(s admin.Snapshot) map[shop.Mode]shop.Status {
	out := map[shop.Mode]shop.Status{}
	for m, p := range s.Found {
		out[m] = p.Status
	}
	return out
}

func (a *app) historyCmd() *cobra.Command {
	return a.lookupCmd(lookup{
		use:   "history ORDER_ID [--mode M] [--follow] [-o FORMAT]",
		short: "show an order's timeline, one format for both engines",
		long: "Show an order's timeline on each engine: every step with its time, duration and outcome;\n" +
			"--follow prints the entries as they happen until the order is terminal everywhere",
		liveFlag: "follow", liveUsage: "print the entries as they happen until the order is terminal (with -o json or jsonl: one JSON document per line and entry)",
		run: a.history,
	})
}

func (a *app) history(ctx context.Context, eng *admin.EngineSet, id string, follow bool, out *cli.Output) error {
	if follow {
		f := &render.Follower{W: a.stdout}
		if !out.JSON() {
			f.Header()
		}
		return eng.Follow(ctx, id, 300*time.Millisecond, func(m shop.Mode, e shop.Event) {
			if !out.JSON() {
				f.Line(m, e)
				return
			}
			cli.PrintJSONLine(a.stdout, map[string]any{"mode": m, "order_id": id, "event": e})
		})
	}
	found, err := admin.Ask(ctx, eng, id, func(ctx context.Context, m shop.Mode) ([]shop.Event, error) {
		return eng.Sources[m].History(ctx, id)
	})
	if err != nil {
		return err
	}
	results := render.HistoryResults(eng.Modes, id, found)
	if out.JSON() {
		return a.printJSON(out, map[string]any{"results": results})
	}
	render.History(a.stdout, results)
	return nil
}

func (a *app) verifyCmd() *cobra.Command {
	var mode *cli.Modes
	var out *cli.Output
	var opts verify.Options
	var deadLetters int64
	cmd := newCmd("verify [--mode M] [-o FORMAT]", "check the invariants against the live state; exit 1 on any violation",
		"Check the invariants against the live state: every order terminal, stock and money conserved,\n"+
			"compensations in reverse order, nothing pending on the streams. Exits 1 on any violation",
		cli.NoArgs, func(cmd *cobra.Command, _ []string) error {
			return a.withEngines(cmd.Context(), 10*time.Minute, mode.List, admin.Options{ExpectDeadLetters: deadLetters},
				func(ctx context.Context, eng *admin.EngineSet) error { return a.verify(ctx, eng, opts, out) })
		})
	mode = cli.Mode(cmd)
	out = cli.JSON(cmd.Flags())
	cli.SetExitStatus(cmd, "  0  every invariant holds\n  1  a violation (listed on stdout), or an error said in one line on stderr\n  2  a usage error (a bad flag or argument)\n")
	fs := cmd.Flags()
	fs.DurationVar(&opts.StuckAfter, "stuck-after", 5*time.Minute, "report a non-terminal order older than this as stuck")
	fs.IntVar(&opts.MaxHistories, "max-histories", 1000, "read at most this many compensated orders' histories to check compensation order (0 = all)")
	fs.Int64Var(&deadLetters, "expect-dead-letters", 0, "dead-lettered entries to accept (injected poison)")
	return cmd
}

func (a *app) verify(ctx context.Context, eng *admin.EngineSet, opts verify.Options, out *cli.Output) error {
	reports, err := eng.Verify(ctx, opts)
	if err != nil {
		return err
	}
	sum := verify.Summarize(reports)
	if out.JSON() {
		err = a.printJSON(out, sum)
	} else {
		render.Verify(a.stdout, reports)
	}
	if err == nil && !sum.OK {
		err = cli.ErrReported
	}
	return err
}

func (a *app) stockCmd() *cobra.Command {
	var mode *cli.Modes
	var reset, force *bool
	var out *cli.Output
	cmd := newCmd("stock [--reset [--force]] [--mode M] [-o FORMAT]", "show the catalog's stock per engine; --reset deletes every order and starts afresh",
		"Show the catalog's available stock per engine. --reset starts the engines of --mode afresh: it\n"+
			"deletes every order they hold in Redis, with everything the participants keep of it, and\n"+
			"says how many orders it deleted. It is refused while an order is in flight (--force)",
		cli.NoArgs, func(cmd *cobra.Command, _ []string) error {
			if *force && !*reset {
				return usagef("--force goes with --reset")
			}
			return a.withEngines(cmd.Context(), 5*time.Minute, mode.List, a.traced(), func(ctx context.Context, eng *admin.EngineSet) error {
				return a.stock(ctx, eng, *reset, *force, out)
			})
		})
	mode = cli.Mode(cmd)
	reset = cmd.Flags().Bool("reset", false, "reset the engines of --mode: "+admin.ResetDeletes)
	force = cmd.Flags().Bool("force", false, "with --reset: delete orders still in flight too, mid-saga")
	out = cli.JSON(cmd.Flags())
	return cmd
}

func (a *app) stock(ctx context.Context, eng *admin.EngineSet, reset, force bool, out *cli.Output) error {
	var done []admin.ResetResult
	if reset {
		var err error
		done, err = eng.Reset(ctx, force)
		for _, r := range done {
			if !out.JSON() {
				fmt.Fprintln(a.stdout, r)
			}
		}
		if err != nil {
			return err
		}
	}
	levels, err := eng.Stock(ctx)
	if err != nil {
		return err
	}
	rows := render.StockRows(eng.Catalog, eng.Modes, levels)
	if out.JSON() {
		doc := map[string]any{"stock": rows}
		if reset {
			doc["reset"] = done
		}
		return a.printJSON(out, doc)
	}
	return render.Stock(a.stdout, eng.Modes, rows)
}
