-- Removes the given consumers of a group that still own no pending entry,
-- have not read for a while and whose process holds no presence record.
-- Checking and removing happen in one step, so no consumer is removed with
-- entries it took meanwhile, nor while its process runs.
-- KEYS[1] stream, KEYS[1+i] the presence record of the i-th consumer.
-- ARGV[1] group, ARGV[2] idle time in ms, ARGV[2+i] the i-th consumer.
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return 0 end
local info = {}
for _, c in ipairs(consumers) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  info[f['name']] = f
end
local removed = 0
for i = 3, #ARGV do
  local f = info[ARGV[i]]
  if f and f['pending'] == 0 and f['idle'] >= tonumber(ARGV[2])
      and redis.call('EXISTS', KEYS[i - 1]) == 0 then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[i])
    removed = removed + 1
  end
end
return removed
