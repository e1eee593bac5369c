-- refund: K[1] payment hash, K[2] ledger hash. It gives back what charge took.
return step('refund', nil, nil, function()
  if not done('charge') then return 'ok', '0' end
  local amount = redis.call('HGET', K[1], 'amount')
  redis.call('HINCRBY', K[2], 'refunded_cents', amount)
  redis.call('HINCRBY', K[2], 'refunds', 1)
  return 'ok', amount
end)
