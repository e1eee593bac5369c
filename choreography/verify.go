package choreography

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/ordersaga/ordersaga/activities"
	"github.com/ordersaga/ordersaga/shop"
)

// What verify reads of the choreography: its orders, its settled totals and
// the state of its streams, partition by partition.

// Orders lists every order placed, with its status and outcome.
func (e *Engine) Orders(ctx context.Context) ([]shop.Record, error) {
	b := e.node.Bus
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	parts := make([][]shop.Record, b.Layout().Partitions)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for p := range parts {
		g.Go(func() (err error) {
			parts[p], err = e.ordersOf(gctx, p)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []shop.Record
	for _, o := range parts {
		out = append(out, o...)
	}
	return out, nil
}

// ordersOf lists the orders of partition p.
func (e *Engine) ordersOf(ctx context.Context, p int) ([]shop.Record, error) {
	b := e.node.Bus
	zs, err := b.Redis.ZRangeWithScores(ctx, b.ordersKey(p), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	out := make([]shop.Record, 0, len(zs))
	const batch = 500
	for start := 0; start < len(zs); start += batch {
		part := zs[start:min(start+batch, len(zs))]
		pipe := b.Redis.Pipeline()
		cmds := make([]*redis.SliceCmd, len(part))
		for i, z := range part {
			cmds[i] = pipe.HMGet(ctx, b.orderKey(z.Member.(string)), "status", "outcome", "order")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("read orders: %w", err)
		}
		for i, z := range part {
			id := z.Member.(string)
			o := shop.Record{ID: id, Placed: time.UnixMilli(int64(z.Score)), Status: shop.StatusPending}
			v := cmds[i].Val()
			if s, _ := v[0].(string); s != "" {
				o.Status = shop.Status(s)
			}
			if js, _ := v[1].(string); js != "" {
				if err := json.Unmarshal([]byte(js), &o.Outcome); err != nil {
					return nil, fmt.Errorf("decode outcome of order %s: %w", id, err)
				}
			}
			if js, _ := v[2].(string); js != "" {
				var placed shop.Order
				if err := json.Unmarshal([]byte(js), &placed); err != nil {
					return nil, fmt.Errorf("decode order %s as placed: %w", id, err)
				}
				o.Items = placed.Items
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// totals reads every partition's settled totals.
func (b *Bus) totals(ctx context.Context) ([]map[string]string, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	return activities.SettledTotals(ctx, b.Redis, b.Layout())
}

// Settled returns the totals of the settled orders.
func (e *Engine) Settled(ctx context.Context) (shop.Settled, error) {
	parts, err := e.node.Bus.totals(ctx)
	if err != nil {
		return shop.Settled{}, err
	}
	s := shop.Settled{Statuses: map[shop.Status]int{}, Held: map[string]int64{}}
	for _, h := range parts {
		for k, v := range h {
			n, _ := strconv.ParseInt(v, 10, 64)
			switch {
			case strings.HasPrefix(k, "held:"):
				s.Held[strings.TrimPrefix(k, "held:")] += n
			case strings.HasPrefix(k, "status:"):
				s.Statuses[shop.Status(strings.TrimPrefix(k, "status:"))] += int(n)
			case k == "net_cents":
				s.NetCents += n
			case k == "charges":
				s.Charges += n
			case k == "refunds":
				s.Refunds += n
			}
		}
	}
	return s, nil
}

// Dropped counts the events that were acked and dropped because their
// order was settled or unknown.
func (e *Engine) Dropped(ctx context.Context) (int64, error) {
	parts, err := e.node.Bus.totals(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, h := range parts {
		d, _ := strconv.ParseInt(h["dropped"], 10, 64)
		n += d
	}
	return n, nil
}

// Extra reports entries left pending or unread in any consumer group, and
// entries in the dead-letter streams.
func (e *Engine) Extra(ctx context.Context) ([]shop.Violation, error) {
	b := e.node.Bus
	lags, err := b.Backlog(ctx)
	if err != nil {
		return nil, err
	}
	var out []shop.Violation
	for _, l := range lags {
		if l.Pending > 0 {
			out = append(out, shop.Violationf(shop.ViolationPending, "", "group %s has %d pending entries on the %s stream", l.Group, l.Pending, l.Service))
		}
		if l.Unread > 0 {
			out = append(out, shop.Violationf(shop.ViolationUnread, "", "group %s has %d unread entries on the %s stream (is the %s service running?)", l.Group, l.Unread, l.Service, l.Group))
		}
	}
	n, err := b.DeadLetterCount(ctx)
	if err != nil {
		return nil, err
	}
	if n > e.ExpectDeadLetters {
		out = append(out, shop.Violationf(shop.ViolationDeadLetter, "", "the dead-letter stream holds %d entries", n))
	} else if n < e.ExpectDeadLetters {
		out = append(out, shop.Violationf(shop.ViolationDeadLetter, "", "the dead-letter stream holds %d entries, %d were expected", n, e.ExpectDeadLetters))
	}
	return out, nil
}
