package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/cli"
	"github.com/ordersaga/ordersaga/shop"
)

// fraudCheckCmd shows or switches whether new choreography orders take the
// fraud check.
func (a *app) fraudCheckCmd() *cobra.Command {
	return newCmd("fraud-check [on|off]", "show or switch whether new choreography orders take the fraud check",
		"With no argument, show whether the choreography's new orders take the fraud check, and their steps.\n"+
			"on: orders placed from now on are checked between the reservation and the charge; refused while\n"+
			"any running inventory or payment consumer is of a build that does not read the check's events.\n"+
			"off: orders placed from now on are not checked. Orders placed before keep their steps to the end",
		fraudCheckArgs, func(cmd *cobra.Command, args []string) error {
			modes := []shop.Mode{shop.ModeChoreography}
			return a.withEngines(cmd.Context(), time.Minute, modes, a.traced(), func(ctx context.Context, eng *admin.EngineSet) error {
				if len(args) == 1 {
					if err := eng.Choreography.SetFraudCheck(ctx, args[0] == "on"); err != nil {
						return fmt.Errorf("fraud-check %s: %w", args[0], err)
					}
				}
				steps, err := eng.Choreography.Plan(ctx)
				if err != nil {
					return err
				}
				return a.showFraudCheck(steps)
			})
		})
}

// fraudCheckArgs accepts no argument, on or off.
func fraudCheckArgs(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) > 1:
		return cli.Usagef("%s takes at most one argument (on or off), got %d", cmd.Name(), len(args))
	case len(args) == 1 && args[0] != "on" && args[0] != "off":
		return cli.Usagef("%s: want on or off, got %q", cmd.Name(), args[0])
	}
	return nil
}

// showFraudCheck prints the state of the switch and the steps of new orders.
func (a *app) showFraudCheck(steps []shop.Step) error {
	state := "off"
	if slices.Contains(steps, shop.StepFraud) {
		state = "on"
	}
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = string(s)
	}
	_, err := fmt.Fprintf(a.stdout, "fraud check: %s (new orders take %s)\n", state, strings.Join(names, " → "))
	return err
}
