-- Records a new order and publishes OrderPlaced, once.
-- KEYS: order hash, history list, order stream, the partition's orders
-- index, its settled-order markers.
-- ARGV: order JSON, event JSON, time, time in ms, order ID, placement token,
-- the order's plan (its steps, comma-separated: the services act on the
-- plan recorded here).
-- The token tells a client's retry of this very placement (its reply lost
-- to a dropped connection), which succeeds, from a second placement of the
-- same order ID, which is refused; so is the ID of a settled order.
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'placement') == ARGV[6] then return 1 end
  return 0
end
if redis.call('ZSCORE', KEYS[5], ARGV[5]) then return 0 end
redis.call('HSET', KEYS[1], 'status', 'PENDING', 'order', ARGV[1], 'placed_at', ARGV[3], 'placement', ARGV[6], 'steps', ARGV[7])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5])
redis.call('XADD', KEYS[3], '*', 'type', 'OrderPlaced', 'event', ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[2])
return 1
