-- Two parties reached each other (a call-connected event): remember it until any callback between them is past its
-- deadline. The writer then looks for recoveries between them to cancel, and the dispatch step reads this before it
-- sends: whichever comes second sees the other, so a redial never loses to a callback.
-- KEYS[1] the pair's connections (sorted set: connected call id scored by answer time in ms)
-- ARGV[1] connected call id, ARGV[2] answer time (ms), ARGV[3] forget connections older than this (ms), ARGV[4] key TTL (ms)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
