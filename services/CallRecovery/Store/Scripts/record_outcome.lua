-- A switch reports the final outcome. The first one is kept; a repeat changes nothing.
-- Accepted whatever the state: if the switch acted on a command we had given up on, billing must still know.
-- KEYS[1] the recovery hash; ARGV[1] switch id, ARGV[2] outcome name, ARGV[3] time (ms), ARGV[4] talk time (ms),
-- ARGV[5] failure cause, ARGV[6] survey score, ARGV[7] reconnect call id
-- Returns {'new' | 'duplicate', all fields...} | {'unknown'} | {'forbidden'}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return {'unknown'}
end
if redis.call('HGET', KEYS[1], 'switchId') ~= ARGV[1] then
  return {'forbidden'}
end
local verdict = 'duplicate'
if state ~= 'Completed' then
  verdict = 'new'
  redis.call('HSET', KEYS[1], 'state', 'Completed', 'outcome', ARGV[2], 'completedAt', ARGV[3],
    'talkTimeMs', ARGV[4], 'detail', ARGV[5], 'surveyScore', ARGV[6], 'reconnectCallId', ARGV[7])
end
local reply = {verdict}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do
  reply[#reply + 1] = v
end
return reply
