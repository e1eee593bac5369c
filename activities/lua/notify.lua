-- notify: K[1] the order's notification record, K[2] the partition's
-- notifications (a stream: what the customer was told); A[1] order ID,
-- A[2] status, A[3] failed step, A[4] reason, A[5] how long the record is
-- kept (ms), A[6] the stream ID below which old notifications are trimmed.
-- One notification per order: the record says it was sent.
local r = step('notify', nil, nil, function()
  redis.call('XADD', K[2], 'MINID', '~', A[6], '*',
    'order_id', A[1], 'status', A[2], 'failed_step', A[3], 'reason', A[4])
  return 'ok', A[2]
end)
redis.call('PEXPIRE', K[1], A[5])
return r
