-- release: K[1] inventory hash, K[2..] the stock key of each SKU of the
-- order; A[1..] the SKU of each stock key. It puts back what reserve took.
return step('release', nil, nil, function()
  if not done('reserve') then return 'ok', 'nothing reserved' end
  for i = 2, #K do
    local q = redis.call('HGET', K[1], 'qty:' .. A[i - 1])
    if q then redis.call('INCRBY', K[i], q) end
  end
  return 'ok', 'released'
end)
