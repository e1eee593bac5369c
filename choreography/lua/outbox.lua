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
-- OA[1] group, OA[2] incoming entry ID, OA[3] success event type,
-- OA[4] success event JSON, OA[5] failure event type, OA[6] failure event
-- JSON, OA[7] 1 in a repair run, OA[8] the order ID.
-- The first @DETAIL@ in an event's JSON becomes the operation's detail.

local function guard()
  if redis.call('EXISTS', OK[4]) == 1 then return nil end
  redis.call('HINCRBY', OK[6], 'dropped', 1)
  if redis.call('ZSCORE', OK[5], OA[8]) then
    return {'dropped', 'order is settled', '', 0}
  end
  return {'dropped', 'unknown order', '', 0}
end

-- fill puts the detail, escaped for JSON, in place of the first @DETAIL@.
local function fill(e, detail)
  local i, j = string.find(e, '@DETAIL@', 1, true)
  if not i then return e end
  local esc = cjson.encode(detail)
  return string.sub(e, 1, i - 1) .. string.sub(esc, 2, -2) .. string.sub(e, j + 1)
end

local function outbox(status, detail, dup)
  local id = ''
  if not dup or OA[7] == '1' then
    local t, e = OA[3], OA[4]
    if status ~= 'ok' then t, e = OA[5], OA[6] end
    e = fill(e, detail)
    id = redis.call('XADD', OK[3], '*', 'type', t, 'event', e)
    redis.call('RPUSH', OK[2], e)
  end
  redis.call('XACK', OK[1], OA[1], OA[2])
  return id
end
