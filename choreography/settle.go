package choreography

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/internal/verify"
	"github.com/ordersaga/ordersaga/shop"
)

// Order retention. Every order keeps its own records (its status, its
// history, one hash per participant) so that status, history and verify can
// account for it. Settling folds a finished order into running totals that
// verify reads instead — the stock and money it still holds, its status, its
// charge and refund — and deletes its records, so Redis memory is bounded by
// the retention window instead of growing with every order ever placed.
// Only COMPLETED and COMPENSATED orders are settled; a FAILED one stays until
// it is repaired.

func (n *Node) settledKey() string { return n.Bus.Prefix + "settled" }

// Settle settles finished orders placed more than retention ago, at most
// limit of them, and returns how many it settled.
func (n *Node) Settle(ctx context.Context, retention time.Duration, limit int64) (int, error) {
	cutoff := n.Now().Add(-retention).UnixMilli()
	ids, err := n.Bus.Redis.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: n.ordersKey(), Start: "-inf", Stop: strconv.FormatInt(cutoff, 10), ByScore: true, Count: limit,
	}).Result()
	if err != nil {
		return 0, fmt.Errorf("list orders to settle: %w", err)
	}
	settled := 0
	for _, id := range ids {
		inv, pay, ship := activities.OrderKeys(n.Bus.Prefix, id)
		keys := []string{n.orderKey(id), n.historyKey(id), inv, pay, ship, n.ordersKey(), n.settledKey()}
		done, err := settleScript.Run(ctx, n.Bus.Redis, keys, id).Int()
		if err != nil {
			return settled, fmt.Errorf("settle order %s: %w", id, err)
		}
		settled += done
	}
	return settled, nil
}

// Settled returns the totals of the settled orders.
func (e *Engine) Settled(ctx context.Context) (verify.Settled, error) {
	h, err := e.node.Bus.Redis.HGetAll(ctx, e.node.settledKey()).Result()
	if err != nil {
		return verify.Settled{}, fmt.Errorf("read settled totals: %w", err)
	}
	s := verify.Settled{Statuses: map[shop.Status]int{}, Held: map[string]int64{}}
	for k, v := range h {
		n, _ := strconv.ParseInt(v, 10, 64)
		switch {
		case strings.HasPrefix(k, "held:"):
			s.Held[strings.TrimPrefix(k, "held:")] = n
		case strings.HasPrefix(k, "status:"):
			s.Statuses[shop.Status(strings.TrimPrefix(k, "status:"))] = int(n)
		case k == "net_cents":
			s.NetCents = n
		case k == "charges":
			s.Charges = n
		case k == "refunds":
			s.Refunds = n
		}
	}
	return s, nil
}
