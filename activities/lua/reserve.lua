-- reserve: K[1] inventory hash. The stock itself was reserved per SKU
-- before this script (see stock.go); this records the result.
-- A[1] 'check' (only the recorded result and the fault, then proceed),
-- 'refuse' (A[2] says why), 'fail' (A[2] says why) or 'ok' with, from
-- A[3], each SKU and the quantity reserved.
return step('reserve', 'release', 'order was released before it was reserved', function()
  if A[1] == 'check' then return 'proceed', '' end
  if A[1] ~= 'ok' then return 'fail', A[2] end
  for i = 3, #A, 2 do
    redis.call('HSET', K[1], 'qty:' .. A[i], A[i + 1])
  end
  return 'ok', ''
end)
