package web

import (
	"context"
	"log/slog"

	"github.com/ordersaga/ordersaga/internal/platform/config"
	"github.com/ordersaga/ordersaga/shop"
)

// Open connects to the Redis and the Temporal server of cfg and returns the
// page over both engines (see Connect and New), linking orders to the
// Temporal UI of cfg, with a function that closes the connections. The page
// answers to allowedHosts besides its own names (see Options.AllowedHosts).
// An unreachable server is an error with nothing left open.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger, allowedHosts ...string) (srv *Server, closeAll func(), err error) {
	rdb, err := cfg.RedisThroughFailover(ctx)
	if err != nil {
		return nil, nil, err
	}
	tc, err := cfg.Temporal(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	closeAll = func() { tc.Close(); _ = rdb.Close() }
	catalog := shop.DefaultCatalog()
	engines, bus, err := Connect(ctx, rdb, tc, catalog, log)
	if err == nil {
		srv, err = New(Options{
			Engines: engines, Bus: bus, Catalog: catalog, Log: log, AllowedHosts: allowedHosts,
			WorkflowURL: func(id string) string { return cfg.WorkflowURL(shop.WorkflowID(id)) },
		})
	}
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return srv, closeAll, nil
}
