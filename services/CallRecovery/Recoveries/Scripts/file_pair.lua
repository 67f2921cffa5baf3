-- Files a recovery under its two parties as a pair, so a call-connected event between them finds it to cancel; kept
-- until a minute past the recovery's deadline. The latest recovery of a pair has the latest deadline (deadlines
-- follow drop times), and the minute covers events a little out of order, so setting the expiry each time is enough.
-- KEYS[1] the pair's recoveries (set of call ids)
-- ARGV[1] call id, ARGV[2] keep until (unix ms)
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
