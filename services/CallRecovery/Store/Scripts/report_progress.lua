-- A switch reports a progress stage. The first report of each stage counts; repeats change nothing.
-- A progress report also stands for a lost acknowledgement.
-- KEYS[1] the recovery hash; ARGV[1] switch id, ARGV[2] stage name, ARGV[3] stage time (ms)
-- Returns {'new' | 'duplicate', all fields...} | {'unknown'} | {'forbidden'}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return {'unknown'}
end
if redis.call('HGET', KEYS[1], 'switchId') ~= ARGV[1] then
  return {'forbidden'}
end
local verdict = 'duplicate'
if redis.call('HSETNX', KEYS[1], 'stage:' .. ARGV[2], ARGV[3]) == 1 then
  verdict = 'new'
  redis.call('HSET', KEYS[1], 'stage', ARGV[2])
  if state == 'Dispatched' or state == 'Pending' then
    redis.call('HSET', KEYS[1], 'state', 'Acknowledged', 'acknowledgedAt', ARGV[3])
  end
end
local reply = {verdict}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do
  reply[#reply + 1] = v
end
return reply
