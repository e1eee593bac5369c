package stream

import (
	"context"
	_ "embed"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/idleconsumers.lua
var idleConsumersLua string

var idleConsumersScript = redis.NewScript(idleConsumersLua)

// keepOwned refreshes, every ClaimIdle/4, the idle time of the entries
// this consumer has read and not finished (waiting for a handler slot or
// being handled), so that no other consumer of the group reclaims them
// while they are in flight. A refresh is a claim by this consumer that
// does not count as a delivery (XCLAIM … JUSTID); it skips an entry
// another consumer claimed in the last ClaimIdle/8, which this one would
// otherwise take back.
func (c *Consumer) keepOwned(ctx context.Context) {
	Tick(ctx, c.cfg.ClaimIdle/4, func() { c.refreshOwned(ctx) })
}

// refreshOwned refreshes the entries owned for longer than ClaimIdle/8.
func (c *Consumer) refreshOwned(ctx context.Context) {
	old := time.Now().Add(-c.cfg.ClaimIdle / 8).UnixMilli()
	byStream := map[string][]string{}
	c.owned.Range(func(_, v any) bool {
		if f := v.(*flight); f.since.Load() <= old {
			byStream[f.stream] = append(byStream[f.stream], f.id)
		}
		return true
	})
	now := time.Now().UnixMilli()
	for stream, ids := range byStream {
		err := c.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
			Stream: stream, Group: c.group, Consumer: c.cfg.Name,
			MinIdle: c.cfg.ClaimIdle / 8, Messages: ids,
		}).Err()
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("refresh of entries in flight failed", "stream", stream, "err", err)
			}
			continue
		}
		for _, id := range ids {
			if v, ok := c.owned.Load(inflightKey(stream, id)); ok {
				v.(*flight).since.Store(now)
			}
		}
	}
}

// removeIdleConsumers removes from the group, stream by stream, the other
// consumers that own no pending entry, have not read for ConsumerIdle and
// whose process does not hold their name (see PresenceKey): on Redis 7.0 a
// running consumer of a quiet stream looks idle. The candidates are read
// first; checking and removing them is one script, so that a consumer that
// reads or starts meanwhile is kept.
func (c *Consumer) removeIdleConsumers(ctx context.Context) {
	for _, stream := range c.streams {
		consumers, err := c.rdb.XInfoConsumers(ctx, stream, c.group).Result()
		if err != nil {
			if ctx.Err() == nil && !redis.HasErrorPrefix(err, "NOGROUP") && !redis.HasErrorPrefix(err, "ERR no such key") {
				c.log.Warn("listing consumers failed", "stream", stream, "err", err)
			}
			continue // no group (a reset) has no consumer to remove
		}
		keys, args := []string{stream}, []any{c.group, c.cfg.ConsumerIdle.Milliseconds()}
		for _, x := range consumers {
			if x.Name != c.cfg.Name && x.Pending == 0 && x.Idle >= c.cfg.ConsumerIdle {
				keys, args = append(keys, PresenceKey(stream, c.group, x.Name)), append(args, x.Name)
			}
		}
		if len(keys) == 1 {
			continue
		}
		n, err := idleConsumersScript.Run(ctx, c.rdb, keys, args...).Int()
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("removing idle consumers failed", "stream", stream, "err", err)
			}
			continue
		}
		if n > 0 {
			c.log.Info("removed idle consumers", "stream", stream, "consumers", n)
		}
	}
}
