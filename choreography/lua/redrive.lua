-- Puts a dead-lettered entry back on the stream it came from and removes
-- it from the dead-letter stream, in one step, unless its order is
-- settled or unknown: then no old event can redo work nobody accounts for.
-- KEYS[1] the dead-letter stream, KEYS[2] the stream the entry came from
-- (in the same partition), KEYS[3] its order's record, KEYS[4] the
-- partition's settled-order markers.
-- ARGV[1] the dead letter's ID, ARGV[2] its order ID ('' when its event
-- names none: it is put back as it is).
-- Returns 'ok', or why not: 'gone', 'moved', 'settled', 'unknown'.
local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #e == 0 then return 'gone' end
local f = {}
for i = 1, #e[1][2], 2 do f[e[1][2][i]] = e[1][2][i + 1] end
if f['stream'] ~= KEYS[2] then return 'moved' end
if ARGV[2] ~= '' then
  if redis.call('ZSCORE', KEYS[4], ARGV[2]) then return 'settled' end
  if redis.call('EXISTS', KEYS[3]) == 0 then return 'unknown' end
end
local values = {}
for _, k in ipairs({'type', 'event'}) do
  if f[k] then
    values[#values + 1] = k
    values[#values + 1] = f[k]
  end
end
if #values == 0 then values = {'event', ''} end
redis.call('XADD', KEYS[2], '*', unpack(values))
redis.call('XDEL', KEYS[1], ARGV[1])
return 'ok'
