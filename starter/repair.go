package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ordersaga/ordersaga/internal/admin"
	"github.com/ordersaga/ordersaga/internal/render"
)

func (a *app) repairCmd() *cobra.Command {
	var f runFlags
	cmd := newCmd("repair ORDER_ID [--mode M] [--json]", "run again the refused compensations of a FAILED order and wait for the outcome",
		"Run again the refused compensations of a FAILED order, once the cause is fixed (an injected fault\n"+
			"is cleared by the repair), on each engine of --mode, and wait for the outcome",
		orderArg,
		func(cmd *cobra.Command, args []string) error { return a.repair(cmd.Context(), args[0], f) })
	f.add(cmd, "print one JSON document on stdout", 2*time.Minute, "give up waiting after this long")
	return cmd
}

// repair repairs the order on each engine of --mode and waits for the
// outcome. An engine's error (the order is not FAILED there, or the engine
// cannot repair it) is reported as it comes, and makes the command fail.
func (a *app) repair(ctx context.Context, id string, f runFlags) error {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	eng, err := a.open(ctx, f.mode.List)
	if err != nil {
		return err
	}
	defer eng.Close()
	var results []render.OrderResult
	var errs []error
	for _, m := range eng.Modes {
		r := render.OrderResult{Result: render.NewResult(m, id, a.uiURL)}
		p := admin.Placement{Mode: m, Placed: time.Now()}
		if p.Err = eng.Sources[m].Repair(ctx, id); p.Err == nil {
			p.Outcome, p.Err = eng.Sources[m].Wait(ctx, id)
		}
		p.Elapsed = time.Since(p.Placed)
		r.SetOutcome(p)
		if p.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m, p.Err))
		}
		results = append(results, r)
	}
	if f.asJSON {
		if err := a.printJSON(map[string]any{"results": results}); err != nil {
			return err
		}
	} else {
		render.Outcomes(a.stdout, results, false)
	}
	return errors.Join(errs...)
}
