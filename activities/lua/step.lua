-- The skeleton of every operation. Its state lives in the order's
-- participant hash K[1]: under the operation's name, "ok|detail" or
-- "fail|reason"; attempts of a transient fault under "attempts:<op>".
-- Every script returns {status, detail, outbox result, duplicate (0|1)}
-- where status is 'ok', 'fail' (a refusal), 'transient', 'proceed' (a
-- check found the operation still to do: nothing recorded, no outbox) or
-- whatever the outbox's guard replies.

local function finish(status, detail, dup)
  return {status, detail, outbox(status, detail, dup), dup and 1 or 0}
end

local function record(op, status, detail)
  redis.call('HSET', K[1], op, status .. '|' .. detail)
  return finish(status, detail, false)
end

-- step runs op once: the recorded result when it ran before; a refusal when
-- the operation that undoes it (undone_by) came first; the planned fault;
-- then body, which returns the status and detail to record (or 'proceed').
local function step(op, undone_by, refusal, body)
  local g = guard()
  if g then return g end
  local v = redis.call('HGET', K[1], op)
  if v and REPAIR and string.sub(v, 1, 5) == 'fail|' then
    -- a repair: forget the refusal and its attempts, and run again
    redis.call('HDEL', K[1], op, 'attempts:' .. op)
    v = nil
  end
  if v then
    local s, d = string.match(v, '^(%a+)|(.*)$')
    return finish(s, d, true)
  end
  if undone_by and redis.call('HEXISTS', K[1], undone_by) == 1 then
    return record(op, 'fail', refusal)
  end
  if FAULT == 'transient' then
    local n = redis.call('HINCRBY', K[1], 'attempts:' .. op, 1)
    if n <= FAILING then
      return {'transient', 'injected transient fault, attempt ' .. n .. ' of ' .. FAILING, '', 0}
    end
  elseif FAULT == 'decline' then
    return record(op, 'fail', 'declined by fault plan')
  end
  local status, detail = body()
  if status == 'proceed' then return {status, '', '', 0} end
  return record(op, status, detail)
end

-- done reports whether op succeeded.
local function done(op)
  local v = redis.call('HGET', K[1], op)
  return v ~= false and string.sub(v, 1, 3) == 'ok|'
end
