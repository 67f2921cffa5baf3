-- Applies one trigger to one recovery, as the lifecycle table allows (RecoveryLifecycle.cs). The table itself -
-- STATE, VERDICT and MOVES ('From|Trigger' -> state) - is put in front of this script when it loads, so the
-- names and the allowed moves have one source.
-- KEYS[1] the recovery hash
-- ARGV[1] trigger, ARGV[2] now (ms), ARGV[3] the acting switch ('' when the service itself acts), then by trigger:
--   Dispatch: ARGV[4] connection id            Accept: ARGV[4] attempt        Reject: ARGV[4] attempt, ARGV[5] detail
--   Progress: ARGV[4] stage, ARGV[5] time (ms)
--   Outcome: ARGV[4] outcome, ARGV[5] time (ms), ARGV[6] talk time (ms), ARGV[7] failure cause, ARGV[8] survey, ARGV[9] reconnect call id
--   Cancel: ARGV[4] detail, ARGV[5] guard: '' | 'redial' (ARGV[6] redial call id, ARGV[7] its answer time ms) | 'party' (ARGV[6] a number)
-- Returns {verdict, state before, trigger applied, field, value, ...} (the fields once the recovery exists: all of
-- them, or SHORT when the move's effects need no more)
local trigger = ARGV[1]
local now = tonumber(ARGV[2])

-- The whole record when what the move emits needs it (FULL: a command to send, an event to publish, an outcome to
-- count); otherwise only the fields the service acts on. Copying a whole hash through Lua was most of the
-- script's cost, and most moves (an acceptance, a dispatch that keeps) need none of it.
local function reply(verdict, from, applied)
  local r = {verdict, from, applied}
  if FULL[from .. '|' .. applied] then
    for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do
      r[#r + 1] = v
    end
    return r
  end
  local values = redis.call('HMGET', KEYS[1], unpack(SHORT))
  for i, name in ipairs(SHORT) do
    if values[i] then
      r[#r + 1] = name
      r[#r + 1] = values[i]
    end
  end
  return r
end

local function field(name)
  return redis.call('HGET', KEYS[1], name)
end

local state = field('state')
if not state then
  return {VERDICT.Unknown, '', trigger}
end
if not STATE[state] then
  return redis.error_reply('ERR recovery state not in the lifecycle table')
end
if ARGV[3] ~= '' and field('switchId') ~= ARGV[3] then
  if trigger == 'Dispatch' then
    return {VERDICT.Kept, state, trigger}
  end
  return {VERDICT.Forbidden, state, trigger}
end

-- Conditions that belong to a trigger, not to a state.
if trigger == 'Dispatch' and tonumber(field('deadline')) <= now then
  trigger = 'Expire'
end
if trigger == 'Expire' and tonumber(field('deadline')) > now then
  return {VERDICT.Kept, state, trigger}
end
if trigger == 'Reject' and state == STATE.Dispatched and tonumber(field('attempts')) ~= tonumber(ARGV[4]) then
  return reply(VERDICT.Stale, state, trigger)
end
if trigger == 'Accept' and state == STATE.Acknowledged then
  local accepted = field('acceptedAttempt')
  if accepted and tonumber(accepted) ~= tonumber(ARGV[4]) then
    return reply(VERDICT.Superseded, state, trigger)
  end
end
if trigger == 'Cancel' and (state == STATE.Pending or state == STATE.Dispatched) then
  if ARGV[5] == 'redial' and (ARGV[6] == field('callId') or tonumber(ARGV[7]) <= tonumber(field('dropTime'))) then
    return {VERDICT.Kept, state, trigger}
  end
  if ARGV[5] == 'party' and ARGV[6] ~= field('callBack') and ARGV[6] ~= field('otherParty') then
    return {VERDICT.Kept, state, trigger}
  end
end

local to = MOVES[state .. '|' .. trigger]
if not to then
  return reply(VERDICT.Unchanged, state, trigger)
end

if trigger == 'Dispatch' then
  local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  redis.call('HSET', KEYS[1], 'state', to, 'dispatchedAt', ARGV[2], 'connection', ARGV[4])
  if attempts == 1 then
    redis.call('HSET', KEYS[1], 'firstDispatchedAt', ARGV[2])
  end
elseif trigger == 'Accept' then
  redis.call('HSET', KEYS[1], 'state', to, 'acknowledgedAt', ARGV[2], 'acceptedAttempt', ARGV[4])
elseif trigger == 'Reject' then
  redis.call('HSET', KEYS[1], 'state', to, 'lastRejection', ARGV[5])
elseif trigger == 'Progress' then
  if redis.call('HSETNX', KEYS[1], 'stage:' .. ARGV[4], ARGV[5]) == 0 then
    return reply(VERDICT.Unchanged, state, trigger)
  end
  redis.call('HSET', KEYS[1], 'state', to, 'stage', ARGV[4])
  if to == STATE.Acknowledged and state ~= to then
    redis.call('HSET', KEYS[1], 'acknowledgedAt', ARGV[5])
  end
elseif trigger == 'Outcome' then
  redis.call('HSET', KEYS[1], 'state', to, 'outcome', ARGV[4], 'completedAt', ARGV[5], 'talkTimeMs', ARGV[6],
    'detail', ARGV[7], 'surveyScore', ARGV[8], 'reconnectCallId', ARGV[9])
elseif trigger == 'Cancel' or trigger == 'Expire' then
  local detail = ARGV[4] or ''
  if trigger == 'Expire' then
    if tonumber(field('attempts')) == 0 then
      detail = 'not delivered: no live connection of switch ' .. field('switchId') .. ' took it before the deadline'
    else
      detail = 'not accepted before the deadline after ' .. field('attempts') .. ' attempt(s)'
    end
  end
  redis.call('HSET', KEYS[1], 'state', to, 'outcome', to, 'completedAt', ARGV[2], 'detail', detail)
else
  redis.call('HSET', KEYS[1], 'state', to)
end
return reply(VERDICT.Applied, state, trigger)
