-- release: K[1] inventory hash. The stock itself was released per SKU
-- before this script (see stock.go); this records the result.
-- A[1] 'check' (only the recorded result and the fault, then proceed) or 'go'.
return step('release', nil, nil, function()
  if A[1] == 'check' then return 'proceed', '' end
  if not done('reserve') then return 'ok', 'nothing reserved' end
  return 'ok', 'released'
end)
