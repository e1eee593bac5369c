-- check: K[1] the order's fraud-check record; A[1] why the rule refuses
-- the order, '' when it lets it through. Decided once: a redelivery or a
-- retry gets the recorded decision.
return step('check', nil, nil, function()
  if A[1] ~= '' then return 'fail', A[1] end
  return 'ok', 'cleared'
end)
