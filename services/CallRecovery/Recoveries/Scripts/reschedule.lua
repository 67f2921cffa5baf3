-- Puts one command (back) in its switch's queue at a given due time, with its deadline: a held recovery released,
-- the next callback after no answer, a callback put off until quiet hours end. Out of in-flight if it was there.
-- KEYS[1] due set, KEYS[2] in-flight set, KEYS[3] deadlines
-- ARGV[1] call id, ARGV[2] due (ms), ARGV[3] deadline (ms), ARGV[4] key TTL (ms)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
for i = 1, 3 do
  redis.call('PEXPIRE', KEYS[i], ARGV[4])
end
return 1
