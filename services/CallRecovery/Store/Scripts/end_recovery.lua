-- The service ends a recovery that was not delivered in time (Expired) or is no longer wanted (Cancelled:
-- the parties redialled, or a party opted out or is under emergency protection since the decision).
-- Only a recovery not yet acknowledged can end so.
-- KEYS[1] the recovery hash; ARGV[1] final state (Expired | Cancelled), ARGV[2] now (ms), ARGV[3] detail
-- ARGV[4] guard: '' none | 'redial' (ARGV[5] the redial's call id, ARGV[6] its answer time in ms: a connection that
-- is the dropped call itself, or older than the drop, cancels nothing) | 'party' (ARGV[5] a number that must be
-- one of the recovery's two parties)
-- Returns {'ended' | 'again', all fields...} ('again': ended before, its outcome may not have been published)
--       | {'kept', state}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return {'kept', 'Missing'}
end
if state == ARGV[1] then
  local reply = {'again'}
  for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do
    reply[#reply + 1] = v
  end
  return reply
end
if state ~= 'Pending' and state ~= 'Dispatched' then
  return {'kept', state}
end
local detail = ARGV[3]
if ARGV[4] == 'redial' then
  if ARGV[5] == redis.call('HGET', KEYS[1], 'callId') or tonumber(ARGV[6]) <= tonumber(redis.call('HGET', KEYS[1], 'dropTime')) then
    return {'kept', state}
  end
elseif ARGV[4] == 'party' then
  if ARGV[5] ~= redis.call('HGET', KEYS[1], 'callBack') and ARGV[5] ~= redis.call('HGET', KEYS[1], 'otherParty') then
    return {'kept', state}
  end
end
if ARGV[1] == 'Expired' then
  if tonumber(redis.call('HGET', KEYS[1], 'deadline')) > tonumber(ARGV[2]) then
    return {'kept', state}
  end
  if tonumber(redis.call('HGET', KEYS[1], 'attempts')) == 0 then
    detail = 'not delivered: no live connection of switch ' .. redis.call('HGET', KEYS[1], 'switchId') .. ' took it before the deadline'
  else
    detail = 'not acknowledged before the deadline after ' .. redis.call('HGET', KEYS[1], 'attempts') .. ' attempt(s)'
  end
end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'outcome', ARGV[1], 'completedAt', ARGV[2], 'detail', detail)
local reply = {'ended'}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do
  reply[#reply + 1] = v
end
return reply
