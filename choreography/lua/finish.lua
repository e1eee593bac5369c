-- Ends an order once: status, outcome, the terminal event, the history
-- entry and the ack of the causing entry happen together.
-- KEYS: order hash, history list, order stream, stream of the causing entry.
-- ARGV: group, causing entry ID, status, outcome JSON, event type, event JSON, time.
-- Returns the order's placed_at (1 without one) when it ended the order now,
-- 0 when it had ended before.
local st = redis.call('HGET', KEYS[1], 'status')
if st and st ~= 'PENDING' then
  redis.call('XACK', KEYS[4], ARGV[1], ARGV[2])
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'outcome', ARGV[4], 'finished_at', ARGV[7])
redis.call('XADD', KEYS[3], '*', 'type', ARGV[5], 'event', ARGV[6])
redis.call('RPUSH', KEYS[2], ARGV[6])
redis.call('XACK', KEYS[4], ARGV[1], ARGV[2])
return redis.call('HGET', KEYS[1], 'placed_at') or 1
