-- Did the two parties reach each other after the drop? The first two connections answered after it, less the clock
-- tolerance between network elements (the dropped call's own id may be one of them). A script rather than
-- ZRANGEBYSCORE so a batch's checks go in one run.
-- KEYS[1] the pair's connections (sorted set: connected call id scored by answer time in ms)
-- ARGV[1] drop time less the clock tolerance (ms)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'LIMIT', 0, 2)
