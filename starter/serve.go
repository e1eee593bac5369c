package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/ordersaga/ordersaga/internal/app/cli"
	"github.com/ordersaga/ordersaga/internal/app/web"
)

// serveCmd runs the live page until interrupted.
func (a *app) serveCmd() *cobra.Command {
	var addr string
	var hosts []string
	cmd := newCmd("serve [--addr HOST:PORT] [--allowed-host NAME]...", "serve a live page of both engines side by side, with a form to place orders",
		"Serve a live page with both engines side by side: counts and rates, the latest orders,\n"+
			"each order's two timelines, a form to place orders with faults, stock, money and the choreography's services",
		cli.NoArgs,
		func(cmd *cobra.Command, _ []string) error {
			if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
				return usagef("bad --addr %q: want HOST:PORT, e.g. 127.0.0.1:8080", addr)
			}
			for _, h := range hosts {
				if !web.ValidHostName(h) {
					return usagef("bad --allowed-host %q: want a host name or an IP address, without a port", h)
				}
			}
			return a.serve(cmd.Context(), addr, hosts)
		})
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen on HOST:PORT")
	cmd.Flags().StringArrayVar(&hosts, "allowed-host", nil, "also answer requests for this host name (repeatable); localhost names and the listen address always answer")
	return cmd
}

// serve connects first, then listens: an unreachable server or a busy
// port stops the command before anything serves.
func (a *app) serve(ctx context.Context, addr string, hosts []string) error {
	log, err := a.logger()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	srv, closeAll, err := web.Open(cctx, a.cfg, log, hosts...)
	if err != nil {
		return err
	}
	defer closeAll()
	return srv.ListenAndServe(ctx, addr, func(at net.Addr) {
		fmt.Fprintf(a.stdout, "serving the live page on http://%s (Ctrl-C to stop)\n", at)
	})
}
