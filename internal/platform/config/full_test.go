package config

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
)

// TestRedisFullIsNamed: a write a full Redis refuses (a command, a
// pipeline, a script) fails with ErrRedisFull and says what to do, and
// stays recognisable as Redis's OOM error; reads go on.
func TestRedisFullIsNamed(t *testing.T) {
	unsetTemporalEnv(t)
	ctx := context.Background()
	srv := testenv.StartRedis(t, "--maxmemory", "1")
	t.Setenv("REDIS_URL", srv.URL())
	rdb, err := FromEnv().Redis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	pipe := rdb.Pipeline()
	pipe.Get(ctx, "ordersaga:full")
	hset := pipe.HSet(ctx, "ordersaga:full", "a", 1)
	_, _ = pipe.Exec(ctx)
	script := redis.NewScript(`redis.call('SET', KEYS[1], 'x') return 1`)
	for name, err := range map[string]error{
		"set":      rdb.Set(ctx, "ordersaga:full", 1, 0).Err(),
		"pipeline": hset.Err(),
		"script":   script.Run(ctx, rdb, []string{"ordersaga:full"}).Err(),
	} {
		if !errors.Is(err, ErrRedisFull) || !redis.HasErrorPrefix(err, "OOM") || !strings.Contains(err.Error(), "maxmemory") {
			t.Errorf("%s on a full Redis: %v; want ErrRedisFull, still an OOM error, naming maxmemory", name, err)
		}
	}
	if err := rdb.Get(ctx, "ordersaga:full").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("a read on a full Redis: %v, want redis.Nil", err)
	}
	if n, _ := srv.Client().Exists(ctx, "ordersaga:full").Result(); n != 0 {
		t.Errorf("a refused write left its key")
	}
}

// TestWritableSaysWhatAWriteWould: Writable refuses with ErrRedisFull,
// naming maxmemory, exactly when a write is refused, and passes as soon
// as memory frees.
func TestWritableSaysWhatAWriteWould(t *testing.T) {
	unsetTemporalEnv(t)
	ctx := context.Background()
	srv := testenv.StartRedis(t, "--maxmemory", "1")
	t.Setenv("REDIS_URL", srv.URL())
	rdb, err := FromEnv().Redis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	err = Writable(ctx, rdb)
	if !errors.Is(err, ErrRedisFull) || !strings.Contains(err.Error(), "over maxmemory 1)") {
		t.Errorf("Writable on a full Redis: %v; want ErrRedisFull naming maxmemory", err)
	}
	if err := rdb.Set(ctx, "ordersaga:full", 1, 0).Err(); !errors.Is(err, ErrRedisFull) {
		t.Errorf("a write where Writable said full: %v; want it refused", err)
	}
	for _, limit := range []string{"0", "1gb"} {
		if err := srv.Client().ConfigSet(ctx, "maxmemory", limit).Err(); err != nil {
			t.Fatal(err)
		}
		if err := Writable(ctx, rdb); err != nil {
			t.Errorf("Writable with maxmemory %s: %v; want nil", limit, err)
		}
		if err := rdb.Set(ctx, "ordersaga:full", 1, 0).Err(); err != nil {
			t.Errorf("a write where Writable said writable: %v", err)
		}
	}
}

// TestWritableAsksEveryMaster: on a cluster, one full master is enough for
// Writable to refuse, naming that node.
func TestWritableAsksEveryMaster(t *testing.T) {
	unsetTemporalEnv(t)
	ctx := context.Background()
	c := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3})
	t.Setenv("REDIS_CLUSTER_URL", c.URL())
	rdb, err := FromEnv().Redis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if err := Writable(ctx, rdb); err != nil {
		t.Fatalf("Writable on a cluster with room: %v", err)
	}
	last := c.Nodes[len(c.Nodes)-1]
	if err := last.Client().ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := Writable(ctx, rdb); !errors.Is(err, ErrRedisFull) || !strings.Contains(err.Error(), last.Addr) {
		t.Errorf("Writable with %s full: %v; want ErrRedisFull naming it", last.Addr, err)
	}
}
