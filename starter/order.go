package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// orderResult is one engine's result of `starter order`.
type orderResult struct {
	Mode        shop.Mode   `json:"mode"`
	OrderID     string      `json:"order_id"`
	Status      shop.Status `json:"status"`
	Steps       []shop.Step `json:"steps"`
	Compensated []shop.Step `json:"compensated"`
	FailedStep  shop.Step   `json:"failed_step,omitempty"`
	Reason      string      `json:"reason,omitempty"`
	ElapsedMS   float64     `json:"elapsed_ms"`
	UIURL       string      `json:"ui_url,omitempty"`
	Error       string      `json:"error,omitempty"`
}

// newOrderID returns a short, readable, unique order ID.
func newOrderID() string {
	return "o-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
}

func (a *app) order(ctx context.Context, args []string) error {
	const usageArgs = "[--mode M] [--item SKU:QTY]… [--fail STEP[:KIND]]… [--no-wait] [--json]"
	fs := a.flags("order", usageArgs, "Place one order on each engine of --mode, with the same items and faults, and wait for the outcomes.\n"+
		"STEP is inventory, payment or shipping (or an operation: reserve, charge, schedule, release, refund, cancel);\n"+
		"KIND is decline (default), transient:N or delay:DURATION. Example: starter order --fail payment")
	mode := addMode(fs)
	var items, fails listFlag
	fs.Var(&items, "item", "an item as SKU:QTY, repeatable (default "+shop.DefaultSKU+":1)")
	fs.Var(&fails, "fail", "inject a fault as STEP[:KIND], repeatable")
	id := fs.String("id", "", "order ID (default: a new one)")
	customer := fs.String("customer", "ada", "customer name")
	noWait := fs.Bool("no-wait", false, "place the order and return without waiting")
	asJSON := fs.Bool("json", false, "print one JSON document on stdout")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up waiting after this long")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("order takes no arguments, got %q (did you mean --item %s?)", pos[0], pos[0])
	}

	o := shop.Order{ID: *id, Customer: *customer}
	if o.ID == "" {
		o.ID = newOrderID()
	}
	if len(items) == 0 {
		items = listFlag{shop.DefaultSKU + ":1"}
	}
	for _, s := range items {
		it, err := shop.ParseItem(s)
		if err != nil {
			return usageError{err.Error()}
		}
		o.Items = append(o.Items, it)
	}
	if o.Faults, err = shop.ParseFaultPlan(fails); err != nil {
		return usageError{err.Error()}
	}
	catalog := shop.DefaultCatalog()
	if err := o.Validate(catalog); err != nil {
		return usageError{err.Error()}
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	eng, err := a.open(ctx, mode.modes)
	if err != nil {
		return err
	}
	defer eng.close()

	// Nothing is placed unless the ID is new on every engine.
	for _, m := range eng.modes {
		_, err := eng.byMode[m].Status(ctx, o.ID)
		if err == nil {
			return fmt.Errorf("order %s already exists on %s: %w", o.ID, m, shop.ErrDuplicateOrder)
		}
		if !isUnknown(err) {
			return err
		}
	}

	results := make([]orderResult, len(eng.modes))
	starts := make([]time.Time, len(eng.modes))
	for i, m := range eng.modes {
		results[i] = orderResult{Mode: m, OrderID: o.ID, Status: shop.StatusPending, Steps: []shop.Step{}, Compensated: []shop.Step{}}
		if m == shop.ModeOrchestration {
			results[i].UIURL = a.cfg.WorkflowURL(shop.WorkflowID(o.ID))
		}
		starts[i] = time.Now()
		if err := eng.byMode[m].Place(ctx, o); err != nil {
			return fmt.Errorf("place order %s on %s: %w", o.ID, m, err)
		}
	}
	if !*noWait {
		var wg sync.WaitGroup
		for i, m := range eng.modes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := eng.byMode[m].Wait(ctx, o.ID)
				r := &results[i]
				r.ElapsedMS = float64(time.Since(starts[i]).Microseconds()) / 1000
				if err != nil {
					r.Error = oneLine(err)
					return
				}
				r.Status, r.Steps, r.Compensated = out.Status, nonNil(out.Steps), nonNil(out.Compensated)
				r.FailedStep, r.Reason = out.FailedStep, out.Reason
			}()
		}
		wg.Wait()
	}

	if *asJSON {
		if err := a.printJSON(map[string]any{"results": results}); err != nil {
			return err
		}
	} else {
		a.printOrder(o, results, *noWait)
	}
	var errs []error
	for _, r := range results {
		if r.Error != "" {
			errs = append(errs, fmt.Errorf("%s: %s", r.Mode, r.Error))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

func (a *app) printOrder(o shop.Order, results []orderResult, placedOnly bool) {
	w := a.stdout
	var items []string
	for _, it := range o.Items {
		items = append(items, fmt.Sprintf("%s:%d", it.SKU, it.Quantity))
	}
	faults := "none"
	if len(o.Faults) > 0 {
		var fs []string
		for _, op := range shop.Ops {
			if f, ok := o.Faults[op]; ok {
				target := string(op)
				if !op.IsCompensation() {
					target = string(op.Step())
				}
				fs = append(fs, fmt.Sprintf("%s:%s", target, f))
			}
		}
		faults = strings.Join(fs, " ")
	}
	fmt.Fprintf(w, "order %s  items: %s  faults: %s\n\n", o.ID, strings.Join(items, " "), faults)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if placedOnly {
		fmt.Fprintln(tw, "MODE\tSTATUS\t")
		for _, r := range results {
			fmt.Fprintf(tw, "%s\tplaced, not waiting\t\n", r.Mode)
		}
	} else {
		fmt.Fprintln(tw, "MODE\tSTATUS\tSTEPS DONE\tCOMPENSATED\tELAPSED\t")
		for _, r := range results {
			status := string(r.Status)
			if r.Error != "" {
				status = "ERROR"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.Mode, status, steps(r.Steps), steps(r.Compensated), ms(r.ElapsedMS))
		}
	}
	_ = tw.Flush()
	for _, r := range results {
		switch {
		case r.Error != "":
			fmt.Fprintf(w, "\n%s error: %s", r.Mode, r.Error)
		case r.Reason != "":
			fmt.Fprintf(w, "\n%s: %s failed: %s", r.Mode, r.FailedStep, r.Reason)
		}
	}
	for _, r := range results {
		if r.UIURL != "" {
			fmt.Fprintf(w, "\nTemporal UI: %s", r.UIURL)
			fmt.Fprintf(w, "\nAll %s orders: %s", r.Status, workflows.ListURL(a.cfg.UIURL, a.cfg.Namespace, workflows.StatusQuery(r.Status)))
		}
	}
	fmt.Fprintln(w)
}

func steps(s []shop.Step) string {
	if len(s) == 0 {
		return "-"
	}
	out := make([]string, len(s))
	for i, st := range s {
		out[i] = string(st)
	}
	return strings.Join(out, ",")
}

func ms(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2fs", v/1000)
	}
	return fmt.Sprintf("%.1fms", v)
}
