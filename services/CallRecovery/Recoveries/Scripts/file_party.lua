-- Files a recovery under one of its parties (customer or party to reconnect), so an opt-out, an emergency call, a
-- re-attach or a redial finds every recovery of theirs: not a trimmed list, every one until a minute past its deadline
-- (or past the end of its supervision, once the switch has accepted it). Filing again only ever keeps it longer.
-- KEYS[1] the party's recoveries (sorted set: call id scored by keep-until, unix ms)
-- ARGV[1] call id, ARGV[2] keep until (unix ms), ARGV[3] now (unix ms, the service's clock: the expiry is set relative
-- to it, never as an instant on Redis's own clock, which may differ)
local keep = tonumber(ARGV[2]) - tonumber(ARGV[3])
if keep <= 0 then
  -- Kept until a time gone by: nothing to file; what expired goes.
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
  return 1
end
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
-- Most parties have nothing else filed: the set is new, has no expiry yet, and gets this one's (NX).
if redis.call('PEXPIRE', KEYS[1], keep, 'NX') == 0 then
  -- The party had recoveries filed: those kept until before now go, and the set is kept longer if this one needs it.
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[1], keep, 'GT')
end
return 1
