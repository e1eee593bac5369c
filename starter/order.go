package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/ordersaga/ordersaga/internal/admin"
	"github.com/ordersaga/ordersaga/internal/bench"
	"github.com/ordersaga/ordersaga/internal/cli"
	"github.com/ordersaga/ordersaga/internal/render"
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
	cmd := newCmd("order [--mode M] [--item SKU:QTY]… [--fail STEP[:KIND]]… [--no-wait] [--json]", "place an order and wait for its outcome",
		"Place one order on each engine of --mode, with the same items and faults, and wait for the outcomes.\n"+
			"STEP is inventory, payment or shipping (or an operation: reserve, charge, schedule, release, refund, cancel);\n"+
			"KIND is decline (default), transient:N or delay:DURATION. Example: starter order --fail payment",
		func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("order takes no arguments, got %q (did you mean --item %s?)", args[0], args[0])
			}
			return nil
		},
		func(cmd *cobra.Command, _ []string) error { return a.order(cmd.Context(), f) })
	f.add(cmd, "print one JSON document on stdout", 2*time.Minute, "give up waiting after this long, and say why the order did not finish")
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
	o := shop.Order{ID: f.id, Customer: f.customer}
	if o.ID == "" {
		o.ID = "o-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	}
	if len(f.items) == 0 {
		f.items = []string{shop.DefaultSKU + ":1"}
	}
	for _, s := range f.items {
		it, err := shop.ParseItem(s)
		if err != nil {
			return o, cli.UsageError{Msg: err.Error()}
		}
		o.Items = append(o.Items, it)
	}
	var err error
	if o.Faults, err = shop.ParseFaultPlan(f.fails); err != nil {
		return o, cli.UsageError{Msg: err.Error()}
	}
	if err := o.Validate(shop.DefaultCatalog()); err != nil {
		return o, cli.UsageError{Msg: err.Error()}
	}
	return o, nil
}

func (a *app) order(ctx context.Context, f orderFlags) error {
	o, err := f.build()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	eng, err := a.open(ctx, f.mode.List)
	if err != nil {
		return err
	}
	defer eng.Close()
	placed, err := eng.PlaceAll(ctx, o)
	if err != nil {
		return err
	}
	if !f.noWait {
		a.waitAll(ctx, eng, o.ID, placed, !f.asJSON && bench.IsTerminal(a.stderr))
	}
	results := make([]render.OrderResult, len(placed))
	var errs []error
	for i, p := range placed {
		r := &results[i]
		r.Result = render.NewResult(p.Mode, o.ID, a.uiURL)
		if f.noWait {
			continue
		}
		r.SetOutcome(p)
		if r.UIURL != "" && r.Status.Terminal() {
			r.ListURL = workflows.ListURL(a.cfg.UIURL, a.cfg.Namespace, workflows.StatusQuery(r.Status))
		}
		switch {
		case len(p.Why) > 0:
			errs = append(errs, fmt.Errorf("%s: order %s did not finish within %s: %s", p.Mode, o.ID, f.timeout, strings.Join(p.Why, "; ")))
		case p.Err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", p.Mode, p.Err))
		}
	}
	if f.asJSON {
		if err := a.printJSON(map[string]any{"results": results}); err != nil {
			return err
		}
	} else {
		render.Order(a.stdout, o, results, f.noWait)
	}
	return errors.Join(errs...)
}

// waitAll waits for the outcomes; when live, it shows on stderr meanwhile
// where the order is on each engine and, when it does not move, why.
func (a *app) waitAll(ctx context.Context, eng *admin.Engines, id string, placed []admin.Placement, live bool) {
	if !live {
		eng.WaitAll(ctx, id, placed)
		return
	}
	start := time.Now()
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		screen := &render.Redrawer{W: a.stderr, TTY: true}
		_ = eng.Watch(wctx, id, 250*time.Millisecond, func(s admin.Snapshot) {
			screen.Draw(fmt.Sprintf("waiting %s\n%s", time.Since(start).Round(100*time.Millisecond), render.Progress(s)))
		})
		screen.Draw("")
	}()
	eng.WaitAll(ctx, id, placed)
	stop()
	<-done
}
