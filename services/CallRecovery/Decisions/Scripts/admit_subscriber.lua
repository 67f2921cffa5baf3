-- May this subscriber be called back for a drop at this time (their limits)? Reserves a place in their window if so.
-- The window and the cool-off count from the drop's time, not from when the service read the event, so a backlog
-- read late is judged as it happened. Idempotent per call id: a replay of an admitted call is admitted again without
-- using a second place. (Opt-outs and emergency protection are the subscriber's facts, checked before this.)
-- KEYS[1] the subscriber's recoveries (sorted set: call id scored by drop time in ms)
-- ARGV[1] call id, ARGV[2] drop time (ms), ARGV[3] window (ms), ARGV[4] max recoveries in window, ARGV[5] cool-off (ms),
-- ARGV[6] now (ms)
-- Returns {verdict, detail}; verdict: admitted | rate_limited
local drop = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local keep = window + math.max(0, drop - tonumber(ARGV[6]))
if tonumber(ARGV[4]) > 0 then
  -- The place is taken first: NX leaves a replay's place as it is (admitted again, no second place).
  if redis.call('ZADD', KEYS[1], 'NX', drop, ARGV[1]) == 0 then
    return {'admitted', 'replay'}
  end
  -- Most customers have had no recovery in the window: their window is the one just made, the only kind without an
  -- expiry yet (every window gets one in the script that makes it; one stripped of it by hand would admit its next
  -- call uncounted, and get one), and the first place in it is theirs. Two calls, not three.
  if redis.call('PEXPIRE', KEYS[1], keep, 'NX') == 1 then
    return {'admitted', ''}
  end
  -- Others are in the window: the place goes back and the call is judged on them, as below (a call refused there
  -- has written, and taken back, its place: two writes in the append-only file that asking first did not make).
  redis.call('ZREM', KEYS[1], ARGV[1])
elseif redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return {'admitted', 'replay'}
end
local coolOff = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (math.min(drop, tonumber(ARGV[6])) - window))
local count = redis.call('ZCOUNT', KEYS[1], '(' .. (drop - window), '+inf')
if count >= tonumber(ARGV[4]) then
  return {'rate_limited', count .. ' recoveries in the window'}
end
if coolOff > 0 then
  local near = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (drop - coolOff), '(' .. (drop + coolOff), 'WITHSCORES', 'LIMIT', 0, 1)
  if near[2] then
    return {'rate_limited', 'cool-off: another recovery ' .. math.floor(math.abs(drop - tonumber(near[2])) / 1000) .. ' s apart'}
  end
end
redis.call('ZADD', KEYS[1], drop, ARGV[1])
redis.call('PEXPIRE', KEYS[1], keep)
return {'admitted', ''}
