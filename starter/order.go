package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/bench"
	"github.com/ordersaga/ordersaga/internal/app/cli"
	"github.com/ordersaga/ordersaga/internal/app/render"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

type orderFlags struct {
	runFlags
	items, fails []string
	id, customer string
	noWait       bool
}

func (a *app) orderCmd() *cobra.Command {
	var f orderFlags
	cmd := newCmd("order [--mode M] [--item SKU:QTY]… [--fail STEP[:KIND]]… [--no-wait] [-o FORMAT]", "place an order and wait for its outcome",
		"Place one order on each engine of --mode, with the same items and faults, and wait for the outcomes.\n"+
			"STEP is inventory, fraud, payment or shipping (or an operation: reserve, check, charge, schedule, release, refund, cancel, notify);\n"+
			"KIND is decline (default), transient:N or delay:DURATION. Examples: starter order --fail payment;\n"+
			"starter order --fail fraud (the fraud check refuses the order: only the reservation is compensated).\n"+
			"Without a fault the fraud check refuses an order above "+shop.Money(shop.FraudLimitCents)+
			", a guest's (--customer \"\") above "+shop.Money(shop.GuestFraudLimitCents)+".",
		func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("order takes no arguments, got %q (did you mean --item %s?)", args[0], args[0])
			}
			return nil
		},
		func(cmd *cobra.Command, _ []string) error { return a.order(cmd.Context(), f) })
	f.add(cmd, "print one JSON document on stdout", 2*time.Minute, "give up waiting after this long, and say why the order did not finish")
	cli.SetExitStatus(cmd, exitStatusOutcome)
	fs := cmd.Flags()
	fs.StringArrayVar(&f.items, "item", nil, "an item as SKU:QTY, repeatable (default "+shop.DefaultSKU+":1)")
	fs.StringArrayVar(&f.fails, "fail", nil, "inject a fault as STEP[:KIND], repeatable")
	fs.StringVar(&f.id, "id", "", "order ID (default: a new one)")
	fs.StringVar(&f.customer, "customer", "ada", "customer name")
	fs.BoolVar(&f.noWait, "no-wait", false, "place the order and return without waiting")
	return cmd
}

// build turns the flags into a valid order.
func (f orderFlags) build() (shop.Order, error) {
	o, err := shop.ParseOrder(f.id, f.customer, f.items, f.fails, shop.DefaultCatalog())
	if err != nil {
		return o, cli.UsageError{Msg: err.Error()}
	}
	return o, nil
}

func (a *app) order(ctx context.Context, f orderFlags) error {
	o, err := f.build()
	if err != nil {
		return err
	}
	return a.withEngines(ctx, f.timeout, f.mode.List, a.traced(), func(ctx context.Context, eng *admin.EngineSet) error {
		placed, err := eng.PlaceAll(ctx, o)
		if err != nil {
			return err
		}
		if !f.noWait {
			a.waitAll(ctx, eng, o.ID, placed, !f.out.JSON() && bench.IsTerminal(a.stderr))
		}
		results := render.PlacementResults(placed, o.ID, a.uiURL, f.noWait)
		for i := range results {
			if r := &results[i]; r.UIURL != "" && r.Status.Terminal() {
				r.ListURL = workflows.ListURL(a.cfg.UIURL, a.cfg.Namespace, workflows.StatusQuery(r.Status))
			}
		}
		if f.out.JSON() {
			if err := a.printJSON(f.out, map[string]any{"results": results}); err != nil {
				return err
			}
		} else {
			render.Order(a.stdout, o, results, f.noWait)
		}
		if err := admin.Errors(o.ID, f.timeout, placed); err != nil || f.noWait {
			return err
		}
		return needsRepair(o.ID, placedStatus(placed))
	})
}

// waitAll waits for the outcomes; when live, it shows on stderr meanwhile
// where the order is on each engine and, when it does not move, why.
func (a *app) waitAll(ctx context.Context, eng *admin.EngineSet, id string, placed []admin.Placement, live bool) {
	if !live {
		eng.WaitAll(ctx, id, placed)
		return
	}
	start := time.Now()
	screen := &render.Redrawer{W: a.stderr, TTY: true}
	eng.WaitAllWatching(ctx, id, placed, 250*time.Millisecond, func(s admin.Snapshot) {
		screen.Draw(fmt.Sprintf("waiting %s\n%s", time.Since(start).Round(100*time.Millisecond), render.Progress(s)))
	})
	screen.Draw("")
}
