package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/ordersaga/ordersaga/internal/web"
	"github.com/ordersaga/ordersaga/shop"
)

const serveArgs = "[--addr HOST:PORT]"

// serve runs the live page until interrupted.
func (a *app) serve(ctx context.Context, args []string) error {
	fs := a.flags("serve", serveArgs, "Serve a live page with both engines side by side: counts and rates, the latest orders,\n"+
		"each order's two timelines, a form to place orders with faults, stock, money and the choreography's services")
	addr := fs.String("addr", "127.0.0.1:8080", "listen on HOST:PORT")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve takes no arguments, got %q", pos[0])
	}
	if _, port, err := net.SplitHostPort(*addr); err != nil || port == "" {
		return usagef("bad --addr %q: want HOST:PORT, e.g. 127.0.0.1:8080", *addr)
	}
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	// Connect first, then listen: an unreachable server or a busy port
	// stops the command before anything serves.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rdb, err := a.cfg.Redis(cctx)
	if err != nil {
		return err
	}
	defer rdb.Close()
	tc, err := a.cfg.Temporal(cctx, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer tc.Close()
	catalog := shop.DefaultCatalog()
	engines, bus, err := web.Connect(cctx, rdb, tc, catalog, log)
	if err != nil {
		return err
	}
	srv, err := web.New(web.Options{
		Engines: engines, Bus: bus, Catalog: catalog, Log: log,
		WorkflowURL: func(id string) string { return a.cfg.WorkflowURL(shop.WorkflowID(id)) },
	})
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	fmt.Fprintf(a.stdout, "serving the live page on http://%s (Ctrl-C to stop)\n", l.Addr())
	return srv.Serve(ctx, l)
}
