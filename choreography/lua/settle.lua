-- Folds one finished order into its partition's settled totals, deletes
-- its records and leaves a marker, atomically; the marker makes every
-- later event of the order dropped. It returns the order's JSON, for the
-- cleanup of what it left outside the partition, or false.
-- KEYS: order hash, history list, inventory hash, payment hash, shipping
-- hash, orders index, settled totals, settled-order markers, fraud-check
-- record.
-- ARGV: order ID, time in ms.
local st = redis.call('HGET', KEYS[1], 'status')
if st ~= 'COMPLETED' and st ~= 'COMPENSATED' then return false end
local function fields(k)
  local f, m = redis.call('HGETALL', k), {}
  for i = 1, #f, 2 do m[f[i]] = f[i + 1] end
  return m
end
local function ok(v) return v ~= nil and string.sub(v, 1, 3) == 'ok|' end
local inv, pay = fields(KEYS[3]), fields(KEYS[4])
if ok(inv['reserve']) and not ok(inv['release']) then
  for k, v in pairs(inv) do
    local sku = string.match(k, '^qty:(.*)$')
    if sku then redis.call('HINCRBY', KEYS[7], 'held:' .. sku, v) end
  end
end
if ok(pay['charge']) then
  redis.call('HINCRBY', KEYS[7], 'charges', 1)
  if not ok(pay['refund']) then redis.call('HINCRBY', KEYS[7], 'net_cents', pay['amount'] or 0) end
end
if ok(pay['refund']) and pay['refund'] ~= 'ok|0' then redis.call('HINCRBY', KEYS[7], 'refunds', 1) end
redis.call('HINCRBY', KEYS[7], 'status:' .. st, 1)
local order = redis.call('HGET', KEYS[1], 'order') or ''
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[9])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('ZADD', KEYS[8], ARGV[2], ARGV[1])
return order
