-- A switch acknowledged (accepted or rejected) attempt N of a command.
-- KEYS[1] the recovery hash; ARGV[1] switch id, ARGV[2] attempt, ARGV[3] '1' accepted / '0' rejected,
-- ARGV[4] rejection detail, ARGV[5] now (ms)
-- Returns {verdict, state, traceparent}: unknown | forbidden | acknowledged | rejected | stale | duplicate | void
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return {'unknown', '', ''}
end
local trace = redis.call('HGET', KEYS[1], 'traceparent') or ''
if redis.call('HGET', KEYS[1], 'switchId') ~= ARGV[1] then
  return {'forbidden', state, trace}
end
if state == 'Dispatched' then
  if tonumber(redis.call('HGET', KEYS[1], 'attempts')) ~= tonumber(ARGV[2]) then
    return {'stale', state, trace}
  end
  if ARGV[3] == '1' then
    redis.call('HSET', KEYS[1], 'state', 'Acknowledged', 'acknowledgedAt', ARGV[5])
    return {'acknowledged', 'Acknowledged', trace}
  end
  redis.call('HSET', KEYS[1], 'state', 'Pending', 'lastRejection', ARGV[4])
  return {'rejected', 'Pending', trace}
end
if state == 'Acknowledged' or state == 'Completed' then
  return {'duplicate', state, trace}
end
return {'void', state, trace}
