package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/verify"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// engines holds the connections one command needs.
type engines struct {
	rdb     *redis.Client
	tc      client.Client
	catalog shop.Catalog
	byMode  map[shop.Mode]verify.Source
	modes   []shop.Mode
}

// open connects to what the modes need, before anything is changed, so an
// unreachable server stops the command with nothing half-done.
func (a *app) open(ctx context.Context, modes []shop.Mode) (*engines, error) {
	e := &engines{catalog: shop.DefaultCatalog(), byMode: map[shop.Mode]verify.Source{}, modes: modes}
	partitions, err := a.cfg.PartitionCount()
	if err != nil {
		return nil, usagef("%v", err)
	}
	rdb, err := a.cfg.Redis(ctx)
	if err != nil {
		return nil, err
	}
	e.rdb = rdb
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, m := range modes {
		switch m {
		case shop.ModeOrchestration:
			if _, err := activities.EnsurePartitions(ctx, rdb, activities.OrchestrationPrefix, partitions); err != nil {
				e.close()
				return nil, err
			}
			tc, err := a.cfg.Temporal(ctx, quiet)
			if err != nil {
				e.close()
				return nil, err
			}
			e.tc = tc
			e.byMode[m] = workflows.NewEngine(tc, e.catalog).WithRedis(rdb)
		case shop.ModeChoreography:
			node := choreography.NewNode(rdb, e.catalog, quiet, choreography.WithPartitions(partitions))
			if err := node.Bus.Setup(ctx); err != nil {
				e.close()
				return nil, err
			}
			if err := activities.Seed(ctx, rdb, activities.ChoreographyPrefix, e.catalog); err != nil {
				e.close()
				return nil, err
			}
			e.byMode[m] = choreography.NewEngine(node, e.catalog)
		}
	}
	return e, nil
}

func (e *engines) close() {
	if e.tc != nil {
		e.tc.Close()
	}
	if e.rdb != nil {
		_ = e.rdb.Close()
	}
}

// isUnknown reports whether err says the order does not exist.
func isUnknown(err error) bool { return errors.Is(err, shop.ErrUnknownOrder) }
