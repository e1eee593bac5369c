-- cancel: K[1] shipping hash, K[2] shipments counters.
return step('cancel', nil, nil, function()
  if not done('schedule') then return 'ok', 'nothing scheduled' end
  redis.call('HINCRBY', K[2], 'cancelled', 1)
  return 'ok', 'cancelled'
end)
