package web

import (
	"context"
	"log/slog"

	"github.com/ordersaga/ordersaga/internal/app/admin"
	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/shop"
)

// Open opens both engines of cfg the way every command does (admin.Open:
// the configured partitions, the consumer groups, the seeded catalog) and
// returns the page over them (see New), linking orders to the Temporal UI
// of cfg, with a function that closes the connections. The page answers to
// allowedHosts besides its own names (see Options.AllowedHosts). An
// unreachable server, or another number of partitions than the one
// recorded, is an error with nothing left open.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger, allowedHosts ...string) (srv *Server, closeAll func(), err error) {
	e, err := admin.Open(ctx, cfg, shop.Modes, admin.Options{Log: log})
	if err != nil {
		return nil, nil, err
	}
	engines, bus := views(e.Redis, e.Temporal, e.Catalog, e.Orchestration, e.Choreography)
	srv, err = New(Options{
		Engines: engines, Bus: bus, Catalog: e.Catalog, Log: log, AllowedHosts: allowedHosts,
		WorkflowURL: func(id string) string { return cfg.WorkflowURL(shop.WorkflowID(id)) },
	})
	if err != nil {
		e.Close()
		return nil, nil, err
	}
	return srv, e.Close, nil
}
