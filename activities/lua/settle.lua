-- Settles one finished order of an engine that keeps no order record of
-- its own (orchestration: Temporal holds the order): folds what its
-- participant records still account for into its partition's settled
-- totals, deletes the records and leaves a marker, atomically. A marker at
-- or after the order's start means this run of the order is settled
-- already: nothing is counted twice.
-- KEYS: inventory hash, payment hash, shipping hash, settled totals,
-- settled-order markers, fraud-check record.
-- ARGV: order ID, status (COMPLETED or COMPENSATED), start and now in ms.
local mark = redis.call('ZSCORE', KEYS[5], ARGV[1])
if mark and tonumber(mark) >= tonumber(ARGV[3]) then return 0 end
local function fields(k)
  local f, m = redis.call('HGETALL', k), {}
  for i = 1, #f, 2 do m[f[i]] = f[i + 1] end
  return m
end
local function ok(v) return v ~= nil and string.sub(v, 1, 3) == 'ok|' end
local inv, pay = fields(KEYS[1]), fields(KEYS[2])
if ok(inv['reserve']) and not ok(inv['release']) then
  for k, v in pairs(inv) do
    local sku = string.match(k, '^qty:(.*)$')
    if sku then redis.call('HINCRBY', KEYS[4], 'held:' .. sku, v) end
  end
end
if ok(pay['charge']) then
  redis.call('HINCRBY', KEYS[4], 'charges', 1)
  if not ok(pay['refund']) then redis.call('HINCRBY', KEYS[4], 'net_cents', pay['amount'] or 0) end
end
if ok(pay['refund']) and pay['refund'] ~= 'ok|0' then redis.call('HINCRBY', KEYS[4], 'refunds', 1) end
redis.call('HINCRBY', KEYS[4], 'status:' .. ARGV[2], 1)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[6])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
return 1
