-- Folds one finished order into the settled totals and deletes its
-- records, atomically. KEYS: order hash, history list, inventory hash,
-- payment hash, shipping hash, orders index, settled totals. ARGV: order ID.
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
