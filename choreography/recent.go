package choreography

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/internal/verify"
	"github.com/ordersaga/ordersaga/shop"
)

// Recent returns the latest n orders placed, newest first, each with its
// status now, and how many orders the orders index holds (settled orders
// have left it: see Settled). It reads n order records however many orders
// there are, so a live view can call it often.
func (e *Engine) Recent(ctx context.Context, n int64) ([]verify.Order, int64, error) {
	node := e.node
	rdb := node.Bus.Redis
	pipe := rdb.Pipeline()
	card := pipe.ZCard(ctx, node.ordersKey())
	var latest *redis.ZSliceCmd
	if n > 0 {
		latest = pipe.ZRevRangeWithScores(ctx, node.ordersKey(), 0, n-1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, fmt.Errorf("list recent orders: %w", err)
	}
	if latest == nil || len(latest.Val()) == 0 {
		return nil, card.Val(), nil
	}
	zs := latest.Val()
	pipe = rdb.Pipeline()
	statuses := make([]*redis.StringCmd, len(zs))
	for i, z := range zs {
		statuses[i] = pipe.HGet(ctx, node.orderKey(z.Member.(string)), "status")
	}
	// An order settled between the two reads has no status any more: it
	// reads as redis.Nil and is left out below.
	_, _ = pipe.Exec(ctx)
	out := make([]verify.Order, 0, len(zs))
	for i, z := range zs {
		st, err := statuses[i].Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read recent orders: %w", err)
		}
		out = append(out, verify.Order{ID: z.Member.(string), Placed: time.UnixMilli(int64(z.Score)), Status: shop.Status(st)})
	}
	return out, card.Val(), nil
}
