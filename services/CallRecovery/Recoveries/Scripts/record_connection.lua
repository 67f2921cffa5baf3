-- Two parties reached each other (a call-connected event): remember it until any callback between them is
-- past its deadline, and return the recoveries between them so the caller can cancel them. Writing before
-- reading, atomically on the pair's slot, pairs with the dispatch step (which marks a command sent, then
-- reads this set): whichever comes second sees the other, so a redial never loses to a callback.
-- KEYS[1] the pair's connections (sorted set: connected call id scored by answer time in ms)
-- KEYS[2] the pair's recoveries (set of call ids)
-- ARGV[1] connected call id, ARGV[2] answer time (ms), ARGV[3] forget connections older than this (ms), ARGV[4] key TTL (ms)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('SMEMBERS', KEYS[2])
