-- Puts an accepted recovery in its switch's queue (idempotent: replays and retries add nothing twice).
-- KEYS[1] the switch's due set (call id scored by due time), KEYS[2] its in-flight set, KEYS[3] its deadlines
-- ARGV[1] call id, ARGV[2] due (unix ms), ARGV[3] deadline (unix ms), ARGV[4] key TTL (ms)
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
end
redis.call('ZADD', KEYS[3], 'NX', ARGV[3], ARGV[1])
for i = 1, 3 do
  redis.call('PEXPIRE', KEYS[i], ARGV[4])
end
return 1
