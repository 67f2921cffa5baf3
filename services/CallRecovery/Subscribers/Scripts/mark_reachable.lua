-- Remembers when a subscriber was last reachable (re-attached, re-registered): the latest time wins, so events
-- read out of order never move it back. A recovery created after the event reads it and does not wait.
-- KEYS[1] the subscriber's reachable key; ARGV[1] when (unix ms), ARGV[2] how long to keep it (ms)
local known = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > known then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
