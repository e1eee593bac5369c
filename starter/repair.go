package main

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/cli"
	"github.com/ordersaga/ordersaga/internal/app/render"
	"github.com/ordersaga/ordersaga/shop"
)

func (a *app) repairCmd() *cobra.Command {
	var f runFlags
	cmd := newCmd("repair ORDER_ID [--mode M] [-o FORMAT]", "run again the refused compensations of a FAILED order and wait for the outcome",
		"Run again the refused compensations of a FAILED order, once the cause is fixed (an injected fault\n"+
			"is cleared by the repair), on each engine of --mode, and wait for the outcome",
		orderArg,
		func(cmd *cobra.Command, args []string) error { return a.repair(cmd.Context(), args[0], f) })
	f.add(cmd, "print one JSON document on stdout", 2*time.Minute, "give up waiting after this long")
	cli.SetExitStatus(cmd, exitStatusOutcome)
	return cmd
}

// repair repairs the order on each engine of --mode and waits for the
// outcome. An engine's error (the order is not FAILED there, or the engine
// cannot repair it) is reported as it comes, and makes the command fail.
func (a *app) repair(ctx context.Context, id string, f runFlags) error {
	return a.withEngines(ctx, f.timeout, f.mode.List, a.traced(), func(ctx context.Context, eng *admin.EngineSet) error {
		done := eng.RepairAll(ctx, id)
		results := render.PlacementResults(done, id, a.uiURL, false)
		for i, p := range done {
			if errors.Is(p.Err, shop.ErrUnknownOrder) {
				results[i].UIURL = "" // no workflow to link to
			}
		}
		if f.out.JSON() {
			if err := a.printJSON(f.out, map[string]any{"results": results}); err != nil {
				return err
			}
		} else {
			render.Outcomes(a.stdout, results, false)
		}
		if err := admin.Errors(id, f.timeout, done); err != nil {
			return err
		}
		return needsRepair(id, placedStatus(done))
	})
}
