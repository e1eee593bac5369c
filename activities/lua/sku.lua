-- One SKU's part of an order's reservation or release, in the SKU's slot.
-- The SKU's holds hash records, per order ID, "<state>|<token>": what was
-- done for the order, and the token of the delivery that first wrote it.
-- The states:
--   r:<qty>  reserved (the quantity was taken from stock)
--   x:<have> refused: only <have> was available
--   b        rolled back: reserved, then given back because another SKU
--            of the order was short
--   t        released (a tombstone): given back, or released before any
--            reservation, so a reservation that comes later is refused
-- Every action is idempotent: it acts only on the state it expects.
-- KEYS[1] the SKU's stock, KEYS[2] its holds hash.
-- ARGV[1] action: reserve | rollback | release | undo; ARGV[2] order ID;
-- ARGV[3] the caller's token; ARGV[4] reserve: the quantity.
-- undo removes the record when this token wrote it first, and gives back
-- what it holds: the work of a delivery whose order turned out settled.
-- Returns {state before, state after} ('' = no record).
local rec = redis.call('HGET', KEYS[2], ARGV[2]) or ''
local before, token = string.match(rec, '^(.*)|(.*)$')
before, token = before or '', token or ARGV[3]
local function held(v) return tonumber(string.match(v, '^r:(%d+)$') or '0') end
local action, after = ARGV[1], before
if action == 'reserve' and before == '' then
  local have = tonumber(redis.call('GET', KEYS[1]) or '0')
  local want = tonumber(ARGV[4])
  if have < want then
    after = 'x:' .. have
  else
    redis.call('DECRBY', KEYS[1], want)
    after = 'r:' .. want
  end
elseif action == 'rollback' and held(before) > 0 then
  redis.call('INCRBY', KEYS[1], held(before))
  after = 'b'
elseif action == 'release' and (before == '' or held(before) > 0) then
  if held(before) > 0 then redis.call('INCRBY', KEYS[1], held(before)) end
  after = 't'
elseif action == 'undo' and before ~= '' and token == ARGV[3] then
  if held(before) > 0 then redis.call('INCRBY', KEYS[1], held(before)) end
  redis.call('HDEL', KEYS[2], ARGV[2])
  return {before, ''}
end
if after ~= before then redis.call('HSET', KEYS[2], ARGV[2], after .. '|' .. token) end
return {before, after}
