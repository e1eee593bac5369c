-- The choreography's outbox, run inside a participant's script (see
-- activities.OutboxHook): the next event is published, appended to the
-- order's history and the incoming entry acked in the same atomic step as
-- the participant's state change. When the operation had already run, only
-- the ack happens (the earlier run published already), unless this is a
-- repair run: then the event is published again, so the repair goes on.
-- An event of an order that is settled or unknown is counted and dropped
-- before anything runs; the caller acks it once it has undone what it did
-- outside the script.
--
-- OK[1] stream of the incoming entry, OK[2] the order's history list,
-- OK[3] the service's own stream, where it publishes, OK[4] the order's
-- record, OK[5] the partition's settled-order markers, OK[6] its settled
-- totals (where dropped events are counted).
-- OA[1] group, OA[2] incoming entry ID, OA[3] the event's JSON, with
-- @TYPE@ in place of its type and @HEAD@ in place of the head of its saga
-- (what the outcome decides), OA[4] success event type, OA[5] its head,
-- OA[6] failure event type, OA[7] its head, OA[8] 1 in a repair run,
-- OA[9] the order ID. After the head is in, the first @DETAIL@ becomes the
-- operation's detail.

local function guard()
  if redis.call('EXISTS', OK[4]) == 1 then return nil end
  redis.call('HINCRBY', OK[6], 'dropped', 1)
  if redis.call('ZSCORE', OK[5], OA[9]) then
    return {'dropped', 'order is settled', '', 0}
  end
  return {'dropped', 'unknown order', '', 0}
end

-- put puts s in place of the first mark in e.
local function put(e, mark, s)
  local i, j = string.find(e, mark, 1, true)
  if not i then return e end
  return string.sub(e, 1, i - 1) .. s .. string.sub(e, j + 1)
end

local function outbox(status, detail, dup)
  local id = ''
  if not dup or OA[8] == '1' then
    local t, head = OA[4], OA[5]
    if status ~= 'ok' then t, head = OA[6], OA[7] end
    local e = put(put(OA[3], '@TYPE@', t), '@HEAD@', head)
    e = put(e, '@DETAIL@', string.sub(cjson.encode(detail), 2, -2))
    id = redis.call('XADD', OK[3], '*', 'type', t, 'event', e)
    redis.call('RPUSH', OK[2], e)
  end
  redis.call('XACK', OK[1], OA[1], OA[2])
  return id
end
