package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/cli"
	"github.com/ordersaga/ordersaga/internal/app/render"
	"github.com/ordersaga/ordersaga/shop"
)

// dlqCmd inspects and redrives the choreography's dead-letter stream.
func (a *app) dlqCmd() *cobra.Command {
	var out *cli.Output
	var limit int64
	cmd := newCmd("dlq list | redrive [ID…]", "inspect the choreography's dead-letter stream, or redrive entries after a fix",
		"Inspect the choreography's dead-letter stream (list), or put entries back on the\n"+
			"stream they came from once the cause is fixed (redrive; all entries when no ID is given)",
		func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown dlq subcommand %q (want list or redrive)", args[0])
			}
			return usagef("dlq needs a subcommand: list or redrive")
		},
		func(*cobra.Command, []string) error { return nil })
	out = cli.JSON(cmd.PersistentFlags())
	cmd.PersistentFlags().Int64Var(&limit, "limit", 100, "list: show at most this many entries (0 = all)")
	list := newCmd("list [--limit N] [-o FORMAT]", "list the dead-lettered entries",
		"List the dead-lettered entries, oldest first, with where they came from and why", cli.NoArgs,
		func(cmd *cobra.Command, _ []string) error {
			return a.withBus(cmd.Context(), func(ctx context.Context, bus *choreography.Bus) error { return a.dlqList(ctx, bus, limit, out) })
		})
	redrive := newCmd("redrive [ID…] [-o FORMAT]", "put entries back on the stream they came from",
		"Put dead-lettered entries back on the stream they came from (every entry when no ID is given).\n"+
			"An ID is as dlq list shows it, with its partition (p3:1700000000000-0); a bare stream ID\n"+
			"works while only one partition has a dead letter of that ID",
		func(_ *cobra.Command, ids []string) error {
			for _, id := range ids {
				if _, _, err := choreography.ParseDeadLetterID(id); err != nil {
					return usagef("%v", err)
				}
			}
			return nil
		},
		func(cmd *cobra.Command, ids []string) error {
			return a.withBus(cmd.Context(), func(ctx context.Context, bus *choreography.Bus) error { return a.dlqRedrive(ctx, bus, ids, out) })
		})
	cmd.AddCommand(list, redrive)
	return cmd
}

func (a *app) withBus(ctx context.Context, f func(context.Context, *choreography.Bus) error) error {
	return a.withEngines(ctx, time.Minute, []shop.Mode{shop.ModeChoreography}, a.traced(), func(ctx context.Context, eng *admin.EngineSet) error {
		return f(ctx, eng.Choreography.Bus())
	})
}

func (a *app) dlqList(ctx context.Context, bus *choreography.Bus, limit int64, out *cli.Output) error {
	dl, err := bus.DeadLetters(ctx, limit)
	if err != nil {
		return err
	}
	total, err := bus.DeadLetterCount(ctx)
	if err != nil {
		return err
	}
	if out.JSON() {
		return a.printJSON(out, map[string]any{"total": total, "entries": render.NonNil(dl)})
	}
	return render.DeadLetters(a.stdout, total, bus.DeadLetterStreams(), dl)
}

func (a *app) dlqRedrive(ctx context.Context, bus *choreography.Bus, ids []string, out *cli.Output) error {
	done, err := bus.Redrive(ctx, ids...)
	if out.JSON() {
		if jerr := a.printJSON(out, map[string]any{"redriven": render.NonNil(done)}); jerr != nil {
			return jerr
		}
		return err
	}
	render.Redriven(a.stdout, done)
	return err
}
