-- Applies one trigger to one recovery, as the lifecycle table allows (RecoveryLifecycle.cs). The table itself -
-- STATE, VERDICT and MOVES ('From|Trigger' -> state) - is put in front of this script when it loads, so the
-- names and the allowed moves have one source.
-- KEYS[1] the recovery hash
-- ARGV[1] trigger, ARGV[2] now (ms), ARGV[3] the acting switch ('' when the service itself acts), then by trigger:
--   Dispatch: ARGV[4] connection id            Accept: ARGV[4] attempt        Reject: ARGV[4] attempt, ARGV[5] detail
--   Progress: ARGV[4] stage, ARGV[5] time (ms), ARGV[6] callback attempt reported (0: the current one)
--   Outcome: ARGV[4] outcome, ARGV[5] time (ms), ARGV[6] talk time (ms), ARGV[7] failure cause, ARGV[8] survey, ARGV[9] reconnect call id,
--     ARGV[10] callback attempt reported (0: the current one), ARGV[11] retry gap (ms; 0: the outcome is not worth another callback),
--     ARGV[12] most callback attempts
--   Cancel: ARGV[4] detail, ARGV[5] guard: '' | 'redial' (ARGV[6] redial call id, ARGV[7] its answer time ms) | 'party' (ARGV[6] a number)
--   Expire: ARGV[4] '' (the deadline passed) | 'quiet' (a delayed callback due in quiet hours that outlast the deadline), ARGV[5] detail
--   Hold: ARGV[4] incident id                    Defer: ARGV[4] new due time (ms), ARGV[5] detail
--   Release: ARGV[4] guard: '' | 'reachable' (ARGV[5] the number, ARGV[6] when it was reachable, ms) | 'incident' (ARGV[5] its id)
-- Returns {verdict, state before, trigger applied, field, value, ...} (the fields once the recovery exists: all of
-- them, or SHORT when the move's effects need no more)
local trigger = ARGV[1]
local now = tonumber(ARGV[2])

-- The recovery is read once, whole, and every write goes both to Redis and to that copy, so the reply is built
-- from the copy: one HGETALL and one HSET per move (a call each for every field read, and a second read for the
-- reply, were most of a move's Redis work).
local stored, order = {}, {}
do
  local flat = redis.call('HGETALL', KEYS[1])
  for i = 1, #flat, 2 do
    stored[flat[i]] = flat[i + 1]
    order[#order + 1] = flat[i]
  end
end

local function field(name)
  return stored[name]
end

-- HSET of field/value pairs, kept in the copy too.
local function set(...)
  local kv = {...}
  redis.call('HSET', KEYS[1], ...)
  for i = 1, #kv, 2 do
    if stored[kv[i]] == nil then
      order[#order + 1] = kv[i]
    end
    stored[kv[i]] = tostring(kv[i + 1])
  end
end

-- The whole record when what the move emits needs it (FULL: a command to send, an event to publish, an outcome to
-- count); otherwise only the fields the service acts on (SHORT).
local function reply(verdict, from, applied)
  local r = {verdict, from, applied}
  local names = FULL[from .. '|' .. applied] and order or SHORT
  for _, name in ipairs(names) do
    if stored[name] then
      r[#r + 1] = name
      r[#r + 1] = stored[name]
    end
  end
  return r
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
if trigger == 'Expire' and ARGV[4] ~= 'quiet' and tonumber(field('deadline')) > now then
  return {VERDICT.Kept, state, trigger}
end
local callbackAttempt = tonumber(field('callbackAttempt') or '1')
if trigger == 'Outcome' or trigger == 'Progress' then
  -- Which callback the report is about. 0 (a switch that does not say) is the one out now; while the next one waits
  -- to be sent (Pending after a retry), the one before it.
  local reported = tonumber((trigger == 'Outcome' and ARGV[10] or ARGV[6]) or '0') or 0
  if reported == 0 then
    reported = (state == STATE.Pending and callbackAttempt > 1) and (callbackAttempt - 1) or callbackAttempt
  end
  if reported < callbackAttempt then
    if trigger == 'Outcome' and reported == callbackAttempt - 1 and state == STATE.Pending and field('lastOutcome') == ARGV[4] then
      -- The outcome that led to this callback, resent (it was not confirmed: the service may have failed before
      -- publishing it or queueing the next callback): its effects again, which are idempotent.
      return reply(VERDICT.Unchanged, state, 'Retry')
    end
    -- About an earlier callback of this recovery, again (a switch resends until confirmed): nothing changes.
    return reply(VERDICT.Stale, state, trigger)
  end
end
if trigger == 'Outcome' and (state == STATE.Dispatched or state == STATE.Acknowledged) then
  local gap = tonumber(ARGV[11] or '0')
  if gap > 0 and callbackAttempt < tonumber(ARGV[12]) and now + gap < tonumber(field('deadline')) then
    trigger = 'Retry'
  end
end
if (trigger == 'Accept' or trigger == 'Reject') and tonumber(ARGV[4]) < tonumber(field('callbackSince') or '0') then
  -- A delivery of an earlier callback, answered late: it says nothing about this one.
  return reply(VERDICT.Stale, state, trigger)
end
if trigger == 'Release' then
  if ARGV[4] == 'reachable' and (field('hold') ~= 'reachability' or field('callBack') ~= ARGV[5] or tonumber(ARGV[6]) < tonumber(field('dropTime'))) then
    return {VERDICT.Kept, state, trigger}
  end
  if ARGV[4] == 'incident' and field('incident') ~= ARGV[5] then
    return {VERDICT.Kept, state, trigger}
  end
  if state == STATE.Pending and not field('releasedAt') then
    -- Never held: nothing to release.
    return {VERDICT.Kept, state, trigger}
  end
end
if trigger == 'Hold' and state == STATE.Held and field('hold') == 'outage' and string.sub(field('incident') or '', 1, 5) == 'cell-' and string.sub(ARGV[4], 1, 5) == 'node-' then
  -- Held by its cell's outage already: only the cell carrying traffic again releases it, not the node.
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
if trigger == 'Cancel' and (state == STATE.Pending or state == STATE.Dispatched or state == STATE.Held) then
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
  local attempts = (tonumber(field('attempts')) or 0) + 1
  if attempts == 1 then
    set('state', to, 'dispatchedAt', ARGV[2], 'connection', ARGV[4], 'attempts', attempts, 'firstDispatchedAt', ARGV[2])
  else
    set('state', to, 'dispatchedAt', ARGV[2], 'connection', ARGV[4], 'attempts', attempts)
  end
elseif trigger == 'Accept' then
  set('state', to, 'acknowledgedAt', ARGV[2], 'acceptedAttempt', ARGV[4])
elseif trigger == 'Reject' then
  set('state', to, 'lastRejection', ARGV[5])
elseif trigger == 'Progress' then
  -- Stages of a later callback are kept apart: 'stage:Bridged' for the first, 'stage:Bridged@2' for the second.
  local stageField = 'stage:' .. ARGV[4] .. (callbackAttempt > 1 and ('@' .. callbackAttempt) or '')
  if field(stageField) then
    return reply(VERDICT.Unchanged, state, trigger)
  end
  if to == STATE.Acknowledged and state ~= to then
    set(stageField, ARGV[5], 'state', to, 'stage', ARGV[4], 'acknowledgedAt', ARGV[5])
  else
    set(stageField, ARGV[5], 'state', to, 'stage', ARGV[4])
  end
elseif trigger == 'Retry' then
  local prefix = 'attempt:' .. callbackAttempt .. ':'
  set('state', to, 'callbackAttempt', callbackAttempt + 1, 'callbackSince', (tonumber(field('attempts')) or 0) + 1,
    'dueAt', now + tonumber(ARGV[11]), 'delayed', '1', 'stage', '',
    'lastOutcome', ARGV[4], 'lastOutcomeAt', ARGV[5], prefix .. 'outcome', ARGV[4], prefix .. 'at', ARGV[5], prefix .. 'detail', ARGV[7])
elseif trigger == 'Hold' then
  set('state', to, 'hold', 'outage', 'incident', ARGV[4], 'heldAt', ARGV[2])
elseif trigger == 'Release' then
  -- Reachable again: at once ("as soon as"), instead of the grace period; an outage over: not before its grace period ends.
  local due = ARGV[4] == 'reachable' and now or math.max(now, tonumber(field('dueAt')))
  set('state', to, 'dueAt', due, 'delayed', '1', 'releasedAt', ARGV[2])
elseif trigger == 'Defer' then
  set('state', to, 'dueAt', ARGV[4], 'deferredAt', ARGV[2], 'deferral', ARGV[5])
elseif trigger == 'Outcome' then
  set('state', to, 'outcome', ARGV[4], 'completedAt', ARGV[5], 'talkTimeMs', ARGV[6],
    'detail', ARGV[7], 'surveyScore', ARGV[8], 'reconnectCallId', ARGV[9])
elseif trigger == 'Cancel' or trigger == 'Expire' then
  local detail = ARGV[4] or ''
  local outcome = to
  if trigger == 'Expire' then
    if ARGV[4] == 'quiet' then
      outcome, detail = 'QuietHours', ARGV[5]
    elseif state == STATE.Held and field('hold') == 'outage' then
      outcome, detail = 'OutageNotRecovered', 'the outage incident ' .. (field('incident') or '') .. ' lasted past the deadline'
    elseif state == STATE.Held then
      outcome, detail = 'CustomerUnreachable', 'the customer was not reachable again before the deadline'
    elseif tonumber(field('attempts')) == 0 then
      detail = 'not delivered: no live connection of switch ' .. field('switchId') .. ' took it before the deadline'
    else
      detail = 'not accepted before the deadline after ' .. field('attempts') .. ' attempt(s)'
    end
  end
  set('state', to, 'outcome', outcome, 'completedAt', ARGV[2], 'detail', detail)
else
  set('state', to)
end
return reply(VERDICT.Applied, state, trigger)
