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
