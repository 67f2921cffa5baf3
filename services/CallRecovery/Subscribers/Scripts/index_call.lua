-- Files a dropped call under one subscriber for the lookup: the latest 100 calls, kept for the retention. Trimming
-- costs a call of its own, so it is done on about one write in eight (chosen by the drop time, so a replay does the
-- same; every write when drop times are whole seconds): between trims the index holds a few more than 100, and
-- readers take the latest they need. Cancels and releases do not use it (RecoveryIndex keeps every open recovery).
-- KEYS[1] the subscriber's call index (call id scored by drop time)
-- ARGV[1] call id, ARGV[2] drop time (ms), ARGV[3] retention (ms)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if tonumber(ARGV[2]) % 8 == 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -101)
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
