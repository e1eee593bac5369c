-- Claims or renews a consumer's presence record: it takes a record nobody
-- holds (absent, or expired) and renews the caller's own, each for ARGV[2]
-- ms; a record another process holds is left as it is.
-- KEYS[1] the presence record. ARGV[1] the caller's token, ARGV[2] TTL in ms.
-- Returns the token of the holder: the caller's when it holds the record now.
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return holder
