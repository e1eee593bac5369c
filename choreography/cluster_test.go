package choreography_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

// The Redis Cluster of this test binary: three masters, started once by the
// first test that needs it, emptied for each test, stopped by TestMain.
var shared struct {
	once    sync.Once
	cluster *testenv.RedisCluster
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cluster != nil {
		shared.cluster.Stop()
	}
	os.Exit(code)
}

// clusterClient returns a client of the test binary's Redis Cluster, with
// every master emptied, closed when the test ends.
func clusterClient(t *testing.T) *redis.ClusterClient {
	t.Helper()
	shared.once.Do(func() {
		shared.cluster, shared.err = testenv.LaunchRedisCluster(testenv.ClusterOptions{Masters: 3})
	})
	if shared.err != nil {
		testenv.MissingErr(t, shared.err)
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: shared.cluster.Addrs()})
	t.Cleanup(func() { _ = rdb.Close() })
	err := rdb.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
		return c.FlushAll(ctx).Err()
	})
	if err != nil {
		t.Fatal(fmt.Errorf("empty the cluster: %w", err))
	}
	return rdb
}
