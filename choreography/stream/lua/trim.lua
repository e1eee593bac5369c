-- Trims a stream up to the oldest entry some consumer group still needs,
-- and never past ARGV[1]. A group needs its oldest pending entry or, with
-- nothing pending, everything after the last entry delivered to it. The
-- cut-off is worked out and applied in one step, so no ack, read or new
-- group in between can make it remove an entry a group has not both read
-- and acked. A stream without groups is left alone.
-- KEYS[1] stream. ARGV[1] the oldest ID retention keeps ("ms-0").
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok or #groups == 0 then return 0 end
local function less(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, bm = tonumber(am), tonumber(bm)
  if am ~= bm then return am < bm end
  return tonumber(as) < tonumber(bs)
end
local cut = ARGV[1]
for _, g in ipairs(groups) do
  local f = {}
  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
  local need = f['last-delivered-id']
  if f['pending'] > 0 then
    need = redis.call('XPENDING', KEYS[1], f['name'])[2]
  end
  if less(need, cut) then cut = need end
end
return redis.call('XTRIM', KEYS[1], 'MINID', cut)
