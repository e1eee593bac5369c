-- reserve: K[1] inventory hash, K[2..] one stock key per SKU.
-- A[1] a reason to refuse the items outright ('' = none); then, per stock
-- key, its SKU and the quantity to take.
return step('reserve', 'release', 'order was released before it was reserved', function()
  if A[1] ~= '' then return 'fail', A[1] end
  for i = 2, #K do
    local have = tonumber(redis.call('GET', K[i]) or '0')
    local want = tonumber(A[2 * i - 1])
    if have < want then
      return 'fail', 'out of stock: ' .. A[2 * i - 2] .. ' has ' .. have .. ', wanted ' .. want
    end
  end
  for i = 2, #K do
    redis.call('DECRBY', K[i], A[2 * i - 1])
    redis.call('HSET', K[1], 'qty:' .. A[2 * i - 2], A[2 * i - 1])
  end
  return 'ok', ''
end)
