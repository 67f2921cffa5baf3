-- Round 2: may this subscriber be called back now? Reserves a place in their rolling window if so.
-- Idempotent per call id: a replay of an admitted call is admitted again without using a second place.
-- KEYS[1] the subscriber's recoveries (sorted set: call id scored by admission time in ms)
-- KEYS[2] the subscriber's opt-out flag, KEYS[3] the subscriber's emergency protection flag
-- ARGV[1] call id, ARGV[2] now (ms), ARGV[3] window (ms), ARGV[4] max recoveries in window, ARGV[5] cool-off (ms)
-- ARGV[6] '1' to reserve (the callback party), '0' only to check the gates (the party to reconnect)
-- Returns {verdict, detail}; verdict: admitted | opted_out | emergency_protection | rate_limited
if ARGV[6] == '1' and redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return {'admitted', 'replay'}
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {'opted_out', ''}
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {'emergency_protection', ''}
end
if ARGV[6] ~= '1' then
  return {'admitted', ''}
end
local now = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[4]) then
  return {'rate_limited', count .. ' recoveries in the window'}
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] and now - tonumber(last[2]) < tonumber(ARGV[5]) then
  return {'rate_limited', 'cool-off: last recovery ' .. math.floor((now - tonumber(last[2])) / 1000) .. ' s ago'}
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'admitted', ''}
