package choreography

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// Recent returns the latest n orders placed, newest first, each with its
// status now, and how many orders the orders indexes hold (settled orders
// have left them: see Settled). It reads at most n orders of each
// partition's index, and n order records, however many orders there are,
// so a live view can call it often.
func (e *Engine) Recent(ctx context.Context, n int64) ([]shop.Record, int64, error) {
	b := e.node.Bus
	if err := b.check(ctx); err != nil {
		return nil, 0, err
	}
	rdb := b.Redis
	parts := b.Layout().Partitions
	pipe := rdb.Pipeline()
	cards := make([]*redis.IntCmd, parts)
	latest := make([]*redis.ZSliceCmd, parts)
	for p := range parts {
		cards[p] = pipe.ZCard(ctx, b.ordersKey(p))
		if n > 0 {
			latest[p] = pipe.ZRevRangeWithScores(ctx, b.ordersKey(p), 0, n-1)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, fmt.Errorf("list recent orders: %w", err)
	}
	var total int64
	var zs []redis.Z
	for p := range parts {
		total += cards[p].Val()
		if latest[p] != nil {
			zs = append(zs, latest[p].Val()...)
		}
	}
	slices.SortStableFunc(zs, func(a, b redis.Z) int { return cmp.Compare(b.Score, a.Score) })
	zs = zs[:min(int64(len(zs)), max(n, 0))]
	if len(zs) == 0 {
		return nil, total, nil
	}
	pipe = rdb.Pipeline()
	statuses := make([]*redis.StringCmd, len(zs))
	for i, z := range zs {
		statuses[i] = pipe.HGet(ctx, b.orderKey(z.Member.(string)), "status")
	}
	// An order settled between the two reads has no status any more: it
	// reads as redis.Nil and is left out below.
	_, _ = pipe.Exec(ctx)
	out := make([]shop.Record, 0, len(zs))
	for i, z := range zs {
		st, err := statuses[i].Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read recent orders: %w", err)
		}
		out = append(out, shop.Record{ID: z.Member.(string), Placed: time.UnixMilli(int64(z.Score)), Status: shop.Status(st)})
	}
	e.markCompensating(ctx, out)
	return out, total, nil
}

// markCompensating shows COMPENSATING the pending orders among recs whose
// compensation has run past the alert threshold (see flagCompensating):
// one more round trip, reading the last event of the pending orders only,
// and the threshold recorded (see Engine.CompensationAlertAfter).
func (e *Engine) markCompensating(ctx context.Context, recs []shop.Record) {
	var pending []int
	var lasts []*redis.StringCmd
	b := e.node.Bus
	pipe := b.Redis.Pipeline()
	for i, r := range recs {
		if r.Status == shop.StatusPending {
			pending = append(pending, i)
			lasts = append(lasts, pipe.LIndex(ctx, e.node.historyKey(r.ID), -1))
		}
	}
	if len(pending) == 0 {
		return
	}
	var recorded *redis.StringCmd
	if e.CompensationAlertAfter <= 0 {
		recorded = pipe.Get(ctx, activities.AlertAfterKey(b.Prefix))
	}
	_, _ = pipe.Exec(ctx) // an order whose history cannot be read stays PENDING
	after := e.CompensationAlertAfter
	if recorded != nil {
		var err error
		if after, err = b.alertAfterOf(recorded); err != nil {
			return // nor can any order be told COMPENSATING without the threshold
		}
	}
	now := e.node.Now()
	for j, i := range pending {
		ev, err := Decode([]byte(lasts[j].Val()))
		if err != nil {
			continue
		}
		p := shop.Progress{Outcome: shop.Outcome{Status: shop.StatusPending}, Current: currentOp(ev)}
		flagCompensating(&p, ev, now, after)
		recs[i].Status = p.Status
	}
}
