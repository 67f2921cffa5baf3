-- After an emergency call: nothing of ours may call this subscriber until the protection ends.
-- Absolute expiry from the event's time, only ever extended, so replays change nothing.
-- KEYS[1] the subscriber's emergency protection flag; ARGV[1] protection end (unix ms)
local current = redis.call('PEXPIRETIME', KEYS[1])
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PXAT', ARGV[1])
  return 1
end
return 0
