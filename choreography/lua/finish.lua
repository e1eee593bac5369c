-- Ends an order once: status, outcome, the terminal event, the history
-- entry and the ack of the causing entry happen together. A FAILED order
-- under repair takes the end of the repair run instead, and only that.
-- An event of an order that is not recorded (settled, or unknown) is
-- acked, counted and dropped: the order is never recreated.
-- KEYS: order hash, history list, order stream, stream of the causing
-- entry, the partition's settled totals.
-- ARGV: group, causing entry ID, status, outcome JSON, event type, event
-- JSON, time, 1 if the event belongs to a repair run.
-- Returns the order's placed_at (1 without one) when it ended the order
-- now, 0 otherwise.
local h = redis.call('HMGET', KEYS[1], 'status', 'repair', 'placed_at')
local st, repairing = h[1], h[2] == '1'
if not st then
  redis.call('HINCRBY', KEYS[5], 'dropped', 1)
elseif (st == 'PENDING' and repairing == (ARGV[8] == '1')) then
  redis.call('HSET', KEYS[1], 'status', ARGV[3], 'outcome', ARGV[4], 'finished_at', ARGV[7])
  if repairing then redis.call('HDEL', KEYS[1], 'repair') end
  redis.call('XADD', KEYS[3], '*', 'type', ARGV[5], 'event', ARGV[6])
  redis.call('RPUSH', KEYS[2], ARGV[6])
  redis.call('XACK', KEYS[4], ARGV[1], ARGV[2])
  return h[3] or 1
end
redis.call('XACK', KEYS[4], ARGV[1], ARGV[2])
return 0
