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

// settleScript folds one finished order into the settled totals and deletes
// its records, atomically. KEYS: order hash, history list, inventory hash,
// payment hash, shipping hash, orders index, settled totals. ARGV: order ID.
var settleScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'status')
if st ~= 'COMPLETED' and st ~= 'COMPENSATED' then return 0 end
local function fields(k)
  local f, m = redis.call('HGETALL', k), {}
  for i = 1, #f, 2 do m[f[i]] = f[i + 1] end
  return m
end
local function ok(v) return v ~= nil and string.sub(v, 1, 3) == 'ok|' end
local inv, pay = fields(KEYS[3]), fields(KEYS[4])
if ok(inv['reserve']) and not ok(inv['release']) then
  for k, v in pairs(inv) do
    local stock = string.match(k, '^qty:(.*)$')
    if stock then redis.call('HINCRBY', KEYS[7], 'held:' .. string.match(stock, '[^:]*$'), v) end
  end
end
if ok(pay['charge']) then
  redis.call('HINCRBY', KEYS[7], 'charges', 1)
  if not ok(pay['refund']) then redis.call('HINCRBY', KEYS[7], 'net_cents', pay['amount'] or 0) end
end
if ok(pay['refund']) and pay['refund'] ~= 'ok|0' then redis.call('HINCRBY', KEYS[7], 'refunds', 1) end
redis.call('HINCRBY', KEYS[7], 'status:' .. st, 1)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('ZREM', KEYS[6], ARGV[1])
return 1
`)

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
