package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/ordersaga/ordersaga/internal/cli"
	"github.com/ordersaga/ordersaga/internal/web"
)

// serveCmd runs the live page until interrupted.
func (a *app) serveCmd() *cobra.Command {
	var addr string
	cmd := newCmd("serve [--addr HOST:PORT]", "serve a live page of both engines side by side, with a form to place orders",
		"Serve a live page with both engines side by side: counts and rates, the latest orders,\n"+
			"each order's two timelines, a form to place orders with faults, stock, money and the choreography's services",
		cli.NoArgs,
		func(cmd *cobra.Command, _ []string) error {
			if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
				return usagef("bad --addr %q: want HOST:PORT, e.g. 127.0.0.1:8080", addr)
			}
			return a.serve(cmd.Context(), addr)
		})
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen on HOST:PORT")
	return cmd
}

// serve connects first, then listens: an unreachable server or a busy
// port stops the command before anything serves.
func (a *app) serve(ctx context.Context, addr string) error {
	log, err := a.logger()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	srv, closeAll, err := web.Open(cctx, a.cfg, log)
	if err != nil {
		return err
	}
	defer closeAll()
	return srv.ListenAndServe(ctx, addr, func(at net.Addr) {
		fmt.Fprintf(a.stdout, "serving the live page on http://%s (Ctrl-C to stop)\n", at)
	})
}
