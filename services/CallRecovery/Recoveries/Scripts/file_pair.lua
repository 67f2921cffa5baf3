-- Files a recovery under its two parties as a pair, so a call-connected event between them finds it to cancel; kept
-- until a minute past the recovery's deadline (or its supervision's end). Recoveries of a pair may be filed out of
-- order (different calls, different partitions): the expiry is only ever extended.
-- KEYS[1] the pair's recoveries (set of call ids)
-- ARGV[1] call id, ARGV[2] keep until (unix ms), ARGV[3] now (unix ms, the service's clock: the expiry is set relative
-- to it, never as an instant on Redis's own clock, which may differ)
redis.call('SADD', KEYS[1], ARGV[1])
local keep = tonumber(ARGV[2]) - tonumber(ARGV[3])
if keep > 0 and redis.call('PTTL', KEYS[1]) < keep then
  redis.call('PEXPIRE', KEYS[1], keep)
end
return 1
