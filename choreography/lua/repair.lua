-- Starts the repair of a FAILED order: the order is PENDING again, under
-- repair (only the end of the repair run will end it), and the repair
-- request is published and appended to its history, together.
-- KEYS: order hash, history list, the stream the request goes to.
-- ARGV: event type, event JSON.
-- Returns 'ok', or the order's status when it is not FAILED ('' if unknown,
-- 'REPAIRING' when a repair runs already).
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return '' end
if redis.call('HGET', KEYS[1], 'repair') == '1' then return 'REPAIRING' end
if st ~= 'FAILED' then return st end
redis.call('HSET', KEYS[1], 'status', 'PENDING', 'repair', '1')
redis.call('HDEL', KEYS[1], 'outcome')
redis.call('XADD', KEYS[3], '*', 'type', ARGV[1], 'event', ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[2])
return 'ok'
