-- charge: K[1] payment hash, K[2] ledger hash; A[1] amount in cents.
return step('charge', 'refund', 'order was refunded before it was charged', function()
  redis.call('HSET', K[1], 'amount', A[1])
  redis.call('HINCRBY', K[2], 'charged_cents', A[1])
  redis.call('HINCRBY', K[2], 'charges', 1)
  return 'ok', A[1]
end)
