-- Releases a consumer's presence record, if the caller still holds it.
-- KEYS[1] the presence record. ARGV[1] the caller's token.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
