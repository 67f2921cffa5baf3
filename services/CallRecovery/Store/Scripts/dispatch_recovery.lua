-- Marks a recovery as sent on a connection, counting the attempt, unless it needs no delivery any more.
-- KEYS[1] the recovery hash; ARGV[1] now (ms), ARGV[2] switch id, ARGV[3] connection id
-- Returns {'send', all fields...} | {'void', state}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return {'void', 'Missing'}
end
if state ~= 'Pending' and state ~= 'Dispatched' then
  return {'void', state}
end
if redis.call('HGET', KEYS[1], 'switchId') ~= ARGV[2] then
  return {'void', 'OtherSwitch'}
end
if tonumber(redis.call('HGET', KEYS[1], 'deadline')) <= tonumber(ARGV[1]) then
  return {'void', 'PastDeadline'}
end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', 'Dispatched', 'dispatchedAt', ARGV[1], 'connection', ARGV[3])
if attempts == 1 then
  redis.call('HSET', KEYS[1], 'firstDispatchedAt', ARGV[1])
end
local reply = {'send'}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do
  reply[#reply + 1] = v
end
return reply
