package activities

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/shop"
)

// Retention of the participant records of an engine that keeps no order
// record in Redis (orchestration, whose orders Temporal holds): once an
// order is finished and older than the retention window, SettleOrder folds
// what its records account for (the stock it still holds, its charge and
// refund, its status) into the partition's settled totals, deletes the
// records and leaves a marker, the same bookkeeping as the choreography's
// settling. Memory then stays bounded by the window instead of growing
// with every order ever placed.

//go:embed lua/settle.lua
var settleLua string

var settleScript = redis.NewScript(settleLua)

// SettledKey holds partition p's totals of settled orders.
func (l Layout) SettledKey(p int) string { return l.PartitionPrefix(p) + "settled" }

// DoneKey holds partition p's markers of settled orders: order ID → when
// it was settled (ms).
func (l Layout) DoneKey(p int) string { return l.PartitionPrefix(p) + "done" }

// FinishedOrder is an order SettleOrder settles.
type FinishedOrder struct {
	// ID is the order's ID.
	ID string
	// Status is its final status, COMPLETED or COMPENSATED.
	Status shop.Status
	// Started is when this run of the order started.
	Started time.Time
	// SKUs are the SKUs whose reservation records to forget.
	SKUs []string
}

// SettleOrder settles one finished order at now, unless this run of the
// order is settled already, then forgets what its reservation recorded for
// each of its SKUs. It reports whether it settled the order now.
func SettleOrder(ctx context.Context, rdb redis.UniversalClient, l Layout, o FinishedOrder, now time.Time) (bool, error) {
	orderID, skus := o.ID, o.SKUs
	p := l.Partition(orderID)
	inv, pay, ship := l.OrderKeys(orderID)
	n, err := settleScript.Run(ctx, rdb, []string{inv, pay, ship, l.SettledKey(p), l.DoneKey(p), l.FraudKey(orderID)},
		orderID, string(o.Status), o.Started.UnixMilli(), now.UnixMilli()).Int()
	if err != nil {
		return false, fmt.Errorf("settle order %s: %w", orderID, err)
	}
	pipe := rdb.Pipeline()
	for _, sku := range skus {
		pipe.HDel(ctx, l.HoldsKey(sku), orderID)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return n == 1, fmt.Errorf("forget the stock records of settled order %s: %w", orderID, err)
	}
	return n == 1, nil
}

// ForgetMarkers drops the markers of orders settled before before, in
// every partition.
func ForgetMarkers(ctx context.Context, rdb redis.UniversalClient, l Layout, before time.Time) error {
	pipe := rdb.Pipeline()
	for p := range l.Partitions {
		pipe.ZRemRangeByScore(ctx, l.DoneKey(p), "-inf", "("+strconv.FormatInt(before.UnixMilli(), 10))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("forget old settled-order markers: %w", err)
	}
	return nil
}

// SettledAt returns, per order ID, when it was settled (the zero time when
// it was not, or its marker is forgotten).
func SettledAt(ctx context.Context, rdb redis.UniversalClient, l Layout, orderIDs []string) ([]time.Time, error) {
	pipe := rdb.Pipeline()
	cmds := make([]*redis.FloatCmd, len(orderIDs))
	for i, id := range orderIDs {
		cmds[i] = pipe.ZScore(ctx, l.DoneKey(l.Partition(id)), id)
	}
	_, _ = pipe.Exec(ctx)
	out := make([]time.Time, len(orderIDs))
	for i, c := range cmds {
		ms, err := c.Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read settled-order markers: %w", err)
		}
		out[i] = time.UnixMilli(int64(ms))
	}
	return out, nil
}

// SettledTotals returns every partition's settled totals (field → value).
func SettledTotals(ctx context.Context, rdb redis.UniversalClient, l Layout) ([]map[string]string, error) {
	pipe := rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, l.Partitions)
	for p := range cmds {
		cmds[p] = pipe.HGetAll(ctx, l.SettledKey(p))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read settled totals: %w", err)
	}
	out := make([]map[string]string, len(cmds))
	for p, c := range cmds {
		out[p] = c.Val()
	}
	return out, nil
}
