package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/app/cli"
	"github.com/ordersaga/ordersaga/internal/app/render"
)

// notificationsCmd lists what the customers were told of their orders' ends.
func (a *app) notificationsCmd() *cobra.Command {
	var mode *cli.Modes
	var out *cli.Output
	var limit int64
	cmd := newCmd("notifications [--mode M] [--limit N] [-o FORMAT]", "list the notifications sent to customers when their orders ended",
		"List the notifications sent to customers, newest first, per engine: one per order once it is\n"+
			"COMPLETED, COMPENSATED or FAILED, with its outcome. Kept as long as the orders (--order-retention)",
		cli.NoArgs, func(cmd *cobra.Command, _ []string) error {
			return a.withEngines(cmd.Context(), time.Minute, mode.List, a.traced(), func(ctx context.Context, eng *admin.EngineSet) error {
				sent, err := eng.Notifications(ctx, limit)
				if err != nil {
					return err
				}
				rows := render.NotificationRows(eng.Modes, sent)
				if out.JSON() {
					return a.printJSON(out, map[string]any{"notifications": rows})
				}
				return render.Notifications(a.stdout, rows)
			})
		})
	mode = cli.Mode(cmd)
	cmd.Flags().Int64Var(&limit, "limit", 20, "show at most this many notifications per engine (0 = all kept)")
	out = cli.JSON(cmd.Flags())
	return cmd
}
