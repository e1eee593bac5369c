-- Removes the consumers of a group that own no pending entry and have not
-- read for a while, except the caller. Checking and removing happen in one
-- step, so no consumer is removed with entries it took meanwhile.
-- KEYS[1] stream. ARGV[1] group, ARGV[2] idle time in ms, ARGV[3] the caller.
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return 0 end
local removed = 0
for _, c in ipairs(consumers) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['name'] ~= ARGV[3] and f['pending'] == 0 and f['idle'] >= tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    removed = removed + 1
  end
end
return removed
