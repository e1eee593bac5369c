-- The per-SKU part of an order's reservation or release, for one or more
-- SKUs of one slot (each SKU's keys share its hash tag; on one Redis a call
-- takes every SKU of the order). Each SKU's holds hash records, per order
-- ID, "<state>|<token>": what was done for the order, and the token of the
-- delivery that first wrote it. The states:
--   r:<qty>  reserved (the quantity was taken from stock)
--   x:<have> refused: only <have> was available
--   b        rolled back: reserved, then given back because another SKU
--            of the order was short
--   t        released (a tombstone): given back, or released before any
--            reservation, so a reservation that comes later is refused
-- Every action is idempotent: it acts only on the state it expects.
-- KEYS: per SKU, its stock and its holds hash.
-- ARGV[1] action: reserve | rollback | release | undo; ARGV[2] order ID;
-- ARGV[3] the caller's token; ARGV[4..] per SKU, the quantity (reserve).
-- undo removes the record when this token wrote it first, and gives back
-- what it holds: the work of a delivery whose order turned out settled.
-- Returns, per SKU, {state before, state after} ('' = no record).
local action, id, caller = ARGV[1], ARGV[2], ARGV[3]
local function held(v) return tonumber(string.match(v, '^r:(%d+)$') or '0') end

local function step(stock, holds, want)
  local rec = redis.call('HGET', holds, id) or ''
  local before, token = string.match(rec, '^(.*)|(.*)$')
  before, token = before or '', token or caller
  local after = before
  if action == 'reserve' and before == '' then
    local have = tonumber(redis.call('GET', stock) or '0')
    if have < want then
      after = 'x:' .. have
    else
      redis.call('DECRBY', stock, want)
      after = 'r:' .. want
    end
  elseif action == 'rollback' and held(before) > 0 then
    redis.call('INCRBY', stock, held(before))
    after = 'b'
  elseif action == 'release' and (before == '' or held(before) > 0) then
    if held(before) > 0 then redis.call('INCRBY', stock, held(before)) end
    after = 't'
  elseif action == 'undo' and before ~= '' and token == caller then
    if held(before) > 0 then redis.call('INCRBY', stock, held(before)) end
    redis.call('HDEL', holds, id)
    return {before, ''}
  end
  if after ~= before then redis.call('HSET', holds, id, after .. '|' .. token) end
  return {before, after}
end

local out = {}
for i = 1, #KEYS, 2 do
  out[#out + 1] = step(KEYS[i], KEYS[i + 1], tonumber(ARGV[3 + (i + 1) / 2]))
end
return out
