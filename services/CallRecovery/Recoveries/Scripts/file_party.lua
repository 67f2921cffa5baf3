-- Files a recovery under one of its parties (customer or party to reconnect), so an opt-out, an emergency call or a
-- re-attach finds every recovery of theirs: not a trimmed list, every one until a minute past its deadline (or past
-- the end of its supervision, once the switch has accepted it). Filing again only ever keeps it longer.
-- KEYS[1] the party's recoveries (sorted set: call id scored by keep-until, unix ms)
-- ARGV[1] call id, ARGV[2] keep until (unix ms), ARGV[3] now (unix ms, the service's clock: the expiry is set relative
-- to it, never as an instant on Redis's own clock, which may differ)
local keep = tonumber(ARGV[2]) - tonumber(ARGV[3])
if keep <= 0 then
  -- Kept until a time gone by: nothing to file; what expired goes.
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
  return 1
end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
if ttl ~= -2 then
  -- The party had recoveries filed: those kept until before now go (a new key has only this one).
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
end
if ttl < keep then
  redis.call('PEXPIRE', KEYS[1], keep)
end
return 1
