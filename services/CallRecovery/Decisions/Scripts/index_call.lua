-- Files a dropped call under one subscriber for the lookup: the latest 100 calls, kept for the retention.
-- KEYS[1] the subscriber's call index (call id scored by drop time)
-- ARGV[1] call id, ARGV[2] drop time (ms), ARGV[3] retention (ms)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -101)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
