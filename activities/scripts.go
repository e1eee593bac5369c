package activities

import "github.com/redis/go-redis/v9"

// Every participant operation is one Lua script, so its idempotency check,
// injected fault, state change and (for choreography) outbox run atomically.
//
// ARGV layout shared by all scripts:
//
//	ARGV[1]      "1" when an outbox is attached, "0" otherwise
//	ARGV[2..4]   ack: stream, group, entry ID ("" = nothing to ack)
//	ARGV[5]      history list to append emitted events to ("" = none)
//	ARGV[6..8]   on success: stream, event type, event JSON ("" stream = publish nothing);
//	             the first @DETAIL@ in the JSON becomes the operation's detail
//	ARGV[9..11]  on business failure: stream, event type, event JSON
//	ARGV[12]     planned fault kind for this operation ("" = none)
//	ARGV[13]     transient: how many attempts fail
//	ARGV[14..]   operation arguments
//
// Every script returns {status, detail, emitted stream entry ID, duplicate(0|1)}
// where status is "ok", "fail" (business failure) or "transient".
// State of one operation lives in the order's participant hash under the
// operation's name, as "ok|detail" or "fail|reason".
const luaPrelude = `
-- fill puts the operation's detail, escaped for JSON, in place of the first
-- @DETAIL@ of an event, so a failure event carries its reason.
local function fill(e, detail)
  local i, j = string.find(e, '@DETAIL@', 1, true)
  if not i then return e end
  local esc = cjson.encode(detail)
  return string.sub(e, 1, i - 1) .. string.sub(esc, 2, -2) .. string.sub(e, j + 1)
end

local function finish(status, detail, dup)
  local id = ''
  if ARGV[1] == '1' then
    if not dup then
      local s, t, e = ARGV[6], ARGV[7], ARGV[8]
      if status ~= 'ok' then s, t, e = ARGV[9], ARGV[10], ARGV[11] end
      if s ~= '' then
        e = fill(e, detail)
        id = redis.call('XADD', s, '*', 'type', t, 'event', e)
        if ARGV[5] ~= '' then redis.call('RPUSH', ARGV[5], e) end
      end
    end
    if ARGV[2] ~= '' then redis.call('XACK', ARGV[2], ARGV[3], ARGV[4]) end
  end
  return {status, detail, id, dup and 1 or 0}
end

-- done returns the recorded result of op, if it ran before.
local function done(h, op)
  local v = redis.call('HGET', h, op)
  if not v then return nil end
  local s, d = string.match(v, '^(%a+)|(.*)$')
  return finish(s, d, true)
end

-- record stores the result of op and finishes.
local function record(h, op, status, detail)
  redis.call('HSET', h, op, status .. '|' .. detail)
  return finish(status, detail, false)
end

-- fault applies the planned fault: nil means go on.
local function fault(h, op)
  if ARGV[12] == 'transient' then
    local n = redis.call('HINCRBY', h, 'attempts:' .. op, 1)
    if n <= tonumber(ARGV[13]) then
      return {'transient', 'injected transient fault, attempt ' .. n .. ' of ' .. ARGV[13], '', 0}
    end
  elseif ARGV[12] == 'decline' then
    return record(h, op, 'fail', 'declined by fault plan')
  end
  return nil
end
`

// reserve: KEYS[1] inventory hash; KEYS[2..] stock keys, one per SKU;
// ARGV[14] a reason to refuse the items outright ("" = none);
// ARGV[15..] the quantity for each stock key.
var reserveScript = redis.NewScript(luaPrelude + `
local h = KEYS[1]
local r = done(h, 'reserve'); if r then return r end
if redis.call('HEXISTS', h, 'release') == 1 then
  return record(h, 'reserve', 'fail', 'order was released before it was reserved')
end
r = fault(h, 'reserve'); if r then return r end
if ARGV[14] ~= '' then
  return record(h, 'reserve', 'fail', ARGV[14])
end
for i = 2, #KEYS do
  local have = tonumber(redis.call('GET', KEYS[i]) or '0')
  local want = tonumber(ARGV[13 + i])
  if have < want then
    return record(h, 'reserve', 'fail', 'out of stock: ' .. string.match(KEYS[i], '[^:]*$') .. ' has ' .. have .. ', wanted ' .. want)
  end
end
for i = 2, #KEYS do
  redis.call('DECRBY', KEYS[i], ARGV[13 + i])
  redis.call('HSET', h, 'qty:' .. KEYS[i], ARGV[13 + i])
end
return record(h, 'reserve', 'ok', '')
`)

// release: KEYS[1] inventory hash.
var releaseScript = redis.NewScript(luaPrelude + `
local h = KEYS[1]
local r = done(h, 'release'); if r then return r end
r = fault(h, 'release'); if r then return r end
local res = redis.call('HGET', h, 'reserve')
if not res or string.sub(res, 1, 2) ~= 'ok' then
  return record(h, 'release', 'ok', 'nothing reserved')
end
local f = redis.call('HGETALL', h)
for i = 1, #f, 2 do
  local k = string.match(f[i], '^qty:(.*)$')
  if k then redis.call('INCRBY', k, f[i + 1]) end
end
return record(h, 'release', 'ok', 'released')
`)

// charge: KEYS[1] payment hash, KEYS[2] ledger hash; ARGV[14] amount in cents.
var chargeScript = redis.NewScript(luaPrelude + `
local h = KEYS[1]
local r = done(h, 'charge'); if r then return r end
if redis.call('HEXISTS', h, 'refund') == 1 then
  return record(h, 'charge', 'fail', 'order was refunded before it was charged')
end
r = fault(h, 'charge'); if r then return r end
redis.call('HSET', h, 'amount', ARGV[14])
redis.call('HINCRBY', KEYS[2], 'charged_cents', ARGV[14])
redis.call('HINCRBY', KEYS[2], 'charges', 1)
return record(h, 'charge', 'ok', ARGV[14])
`)

// refund: KEYS[1] payment hash, KEYS[2] ledger hash.
var refundScript = redis.NewScript(luaPrelude + `
local h = KEYS[1]
local r = done(h, 'refund'); if r then return r end
r = fault(h, 'refund'); if r then return r end
local c = redis.call('HGET', h, 'charge')
if not c or string.sub(c, 1, 2) ~= 'ok' then
  return record(h, 'refund', 'ok', '0')
end
local amount = redis.call('HGET', h, 'amount')
redis.call('HINCRBY', KEYS[2], 'refunded_cents', amount)
redis.call('HINCRBY', KEYS[2], 'refunds', 1)
return record(h, 'refund', 'ok', amount)
`)

// schedule: KEYS[1] shipping hash, KEYS[2] shipments counter; ARGV[14] tracking ID.
var scheduleScript = redis.NewScript(luaPrelude + `
local h = KEYS[1]
local r = done(h, 'schedule'); if r then return r end
if redis.call('HEXISTS', h, 'cancel') == 1 then
  return record(h, 'schedule', 'fail', 'shipment was cancelled before it was scheduled')
end
r = fault(h, 'schedule'); if r then return r end
redis.call('HINCRBY', KEYS[2], 'scheduled', 1)
return record(h, 'schedule', 'ok', ARGV[14])
`)

// cancel: KEYS[1] shipping hash, KEYS[2] shipments counter.
var cancelScript = redis.NewScript(luaPrelude + `
local h = KEYS[1]
local r = done(h, 'cancel'); if r then return r end
r = fault(h, 'cancel'); if r then return r end
local s = redis.call('HGET', h, 'schedule')
if not s or string.sub(s, 1, 2) ~= 'ok' then
  return record(h, 'cancel', 'ok', 'nothing scheduled')
end
redis.call('HINCRBY', KEYS[2], 'cancelled', 1)
return record(h, 'cancel', 'ok', 'cancelled')
`)
