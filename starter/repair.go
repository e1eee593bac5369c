package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/ordersaga/ordersaga/shop"
)

// repair runs the refused compensations of a FAILED order again on each
// engine of --mode and waits for the outcome. An engine's error (the order
// is not FAILED there, or the engine cannot repair) is reported as it
// comes, and makes the command fail.
func (a *app) repair(ctx context.Context, args []string) error {
	const summary = "Run again the refused compensations of a FAILED order, once the cause is fixed (an injected fault is cleared by the repair), and wait for the outcome"
	fs := a.flags("repair", "ORDER_ID [--mode M] [--json]", summary)
	mode := addMode(fs)
	asJSON := fs.Bool("json", false, "print one JSON document on stdout")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up waiting after this long")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	id, err := orderArg("repair", pos)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	eng, err := a.open(ctx, mode.modes)
	if err != nil {
		return err
	}
	defer eng.close()

	var results []orderResult
	var errs []error
	for _, m := range eng.modes {
		r := orderResult{Mode: m, OrderID: id, Steps: []shop.Step{}, Compensated: []shop.Step{}}
		start := time.Now()
		err := eng.byMode[m].Repair(ctx, id)
		if err == nil {
			var o shop.Outcome
			if o, err = eng.byMode[m].Wait(ctx, id); err == nil {
				r.Status, r.Steps, r.Compensated, r.FailedStep, r.Reason = o.Status, nonNil(o.Steps), nonNil(o.Compensated), o.FailedStep, o.Reason
			}
		}
		r.ElapsedMS = float64(time.Since(start).Microseconds()) / 1000
		if err != nil {
			r.Error = oneLine(err)
			errs = append(errs, fmt.Errorf("%s: %s", m, r.Error))
		}
		results = append(results, r)
	}
	if *asJSON {
		if err := a.printJSON(map[string]any{"results": results}); err != nil {
			return err
		}
		return errors.Join(errs...)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODE\tSTATUS\tSTEPS DONE\tCOMPENSATED\tELAPSED\t")
	for _, r := range results {
		status := string(r.Status)
		if r.Error != "" {
			status = "ERROR"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.Mode, status, steps(r.Steps), steps(r.Compensated), ms(r.ElapsedMS))
	}
	_ = tw.Flush()
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(a.stdout, "%s error: %s\n", r.Mode, r.Error)
		} else if r.Reason != "" {
			fmt.Fprintf(a.stdout, "%s: %s failed: %s\n", r.Mode, r.FailedStep, r.Reason)
		}
	}
	return errors.Join(errs...)
}
