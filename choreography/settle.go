package choreography

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/shop"
)

//go:embed lua/settle.lua
var settleLua string

var settleScript = redis.NewScript(settleLua)

// Order retention. Every order keeps its own records (its status, its
// history, one hash per participant) so that status, history and verify can
// account for it. Settling folds a finished order into its partition's
// running totals that verify reads instead — the stock and money it still
// holds, its status, its charge and refund — deletes its records and
// leaves a marker (the order's ID in the partition's markers, kept for
// MarkerRetention), so Redis memory is bounded by the retention window
// instead of growing with every order ever placed, and any later event of
// the order is dropped instead of redoing its work. Only COMPLETED and
// COMPENSATED orders are settled; a FAILED one stays until it is repaired.

// Settle settles finished orders placed more than retention ago, at most
// limit of them, and forgets the markers of orders settled more than
// MarkerRetention ago. It returns how many orders it settled.
func (n *Node) Settle(ctx context.Context, retention time.Duration, limit int64) (int, error) {
	b := n.Bus
	if err := b.check(ctx); err != nil {
		return 0, err
	}
	now := n.Now()
	cutoff := strconv.FormatInt(now.Add(-retention).UnixMilli(), 10)
	forget := strconv.FormatInt(now.Add(-n.MarkerRetention).UnixMilli(), 10)
	settled := 0
	for p := range b.Layout().Partitions {
		if int64(settled) >= limit {
			break
		}
		if err := b.Redis.ZRemRangeByScore(ctx, b.doneKey(p), "-inf", forget).Err(); err != nil {
			return settled, fmt.Errorf("forget old settled-order markers: %w", err)
		}
		ids, err := b.Redis.ZRangeArgs(ctx, redis.ZRangeArgs{
			Key: b.ordersKey(p), Start: "-inf", Stop: cutoff, ByScore: true, Count: limit - int64(settled),
		}).Result()
		if err != nil {
			return settled, fmt.Errorf("list orders to settle: %w", err)
		}
		for _, id := range ids {
			done, err := n.settleOrder(ctx, p, id, now)
			if err != nil {
				return settled, err
			}
			if done {
				settled++
			}
		}
	}
	return settled, nil
}

// settleOrder settles one order of partition p, if it is finished, then
// deletes what its reservation recorded per SKU.
func (n *Node) settleOrder(ctx context.Context, p int, id string, now time.Time) (bool, error) {
	b := n.Bus
	inv, pay, ship := b.Layout().OrderKeys(id)
	keys := []string{n.orderKey(id), n.historyKey(id), inv, pay, ship, b.ordersKey(p), b.settledKey(p), b.doneKey(p), b.Layout().FraudKey(id)}
	orderJSON, err := settleScript.Run(ctx, b.Redis, keys, id, now.UnixMilli()).Text()
	if errors.Is(err, redis.Nil) {
		return false, nil // not finished
	}
	if err != nil {
		return false, fmt.Errorf("settle order %s: %w", id, err)
	}
	var o shop.Order
	if err := json.Unmarshal([]byte(orderJSON), &o); err != nil {
		return true, nil // nothing known to clean up
	}
	pipe := b.Redis.Pipeline()
	for _, it := range o.Items {
		pipe.HDel(ctx, b.Layout().HoldsKey(it.SKU), id)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return true, fmt.Errorf("clean up the stock records of settled order %s: %w", id, err)
	}
	return true, nil
}
