-- schedule: K[1] shipping hash, K[2] shipments counters; A[1] tracking ID.
return step('schedule', 'cancel', 'shipment was cancelled before it was scheduled', function()
  redis.call('HINCRBY', K[2], 'scheduled', 1)
  return 'ok', A[1]
end)
