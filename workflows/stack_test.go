package workflows_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"

	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// realStack is a test's own Redis, seeded with the default catalog, and a
// client of its own Temporal dev server.
type realStack struct {
	rdb     *redis.Client
	client  client.Client
	catalog shop.Catalog
}

func startRealStack(t *testing.T) realStack {
	t.Helper()
	rdb := testenv.StartRedis(t).Client()
	tsrv := testenv.StartTemporal(t)
	catalog := shop.DefaultCatalog()
	if err := workflows.Seed(context.Background(), rdb, catalog); err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: tsrv.Address, Namespace: tsrv.Namespace, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return realStack{rdb: rdb, client: c, catalog: catalog}
}
