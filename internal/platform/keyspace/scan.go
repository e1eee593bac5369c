package keyspace

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Scan calls fn with the keys that match pattern, in batches, master by
// master on a cluster (in parallel; fn must be safe for that), on the one
// server otherwise. Of the application's Redis users only the starter's
// may SCAN (deploy/redis/users.acl): resets and the bench call it, never a
// service or the page.
func Scan(ctx context.Context, rdb redis.UniversalClient, pattern string, fn func(keys []string) error) error {
	scan := func(ctx context.Context, c *redis.Client) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, pattern, 1000).Result()
			if err != nil {
				return fmt.Errorf("scan %s: %w", pattern, err)
			}
			if len(keys) > 0 {
				if err := fn(keys); err != nil {
					return err
				}
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, scan)
	case *redis.Client:
		return scan(ctx, c)
	}
	return fmt.Errorf("scan %s: unsupported client %T", pattern, rdb)
}

// Delete deletes (UNLINK) the keys that match pattern, except those keep
// returns true for, one key per command, and returns how many it deleted.
func Delete(ctx context.Context, rdb redis.UniversalClient, pattern string, keep func(key string) bool) (int64, error) {
	var (
		mu      sync.Mutex
		deleted int64
	)
	err := Scan(ctx, rdb, pattern, func(keys []string) error {
		pipe := rdb.Pipeline()
		cmds := make([]*redis.IntCmd, 0, len(keys))
		for _, k := range keys {
			if keep == nil || !keep(k) {
				cmds = append(cmds, pipe.Unlink(ctx, k))
			}
		}
		if len(cmds) == 0 {
			return nil
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("delete %s: %w", pattern, err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cmds {
			deleted += c.Val()
		}
		return nil
	})
	return deleted, err
}
