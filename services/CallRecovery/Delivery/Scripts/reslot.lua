-- New send slots for commands claimed and not written within the tolerance of their slots (see claim_due.lua): the
-- next free slots of the switch's pace, as a claim would take them, and each command's acknowledgement deadline
-- moved with its slot. Without a rate (none declared lately) the command goes at once.
-- KEYS[1] in-flight set (call id scored by acknowledgement deadline), KEYS[2] the switch's admission state
-- ARGV[1] now (ms), ARGV[2] acknowledgement timeout (ms), ARGV[3] key TTL (ms), ARGV[4] the rate the caller's instance
-- declared (0: none), ARGV[5] lead (ms), ARGV[6] tolerance (ms), then the call ids
-- Returns the slots (unix ms; 0 when unpaced), in the order of the call ids
local now, declared = tonumber(ARGV[1]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[2], 'rate', 'rateAt', 'next')
local rate = declared
local storedRate, storedAt = tonumber(state[1]), tonumber(state[2])
if storedRate and storedAt and now - storedAt < 60000 and (rate == 0 or storedRate < rate) then
  rate = storedRate
end
local first, spacing = now, 0
if rate > 0 then
  spacing = (1000 + tonumber(ARGV[6])) / rate
  first = math.max(tonumber(state[3]) or 0, now + tonumber(ARGV[5]))
end
local slots, count = {}, #ARGV - 6
for i = 1, count do
  slots[i] = math.floor(first + (i - 1) * spacing)
  if redis.call('ZSCORE', KEYS[1], ARGV[6 + i]) then
    redis.call('ZADD', KEYS[1], 'XX', slots[i] + tonumber(ARGV[2]), ARGV[6 + i])
  end
end
if rate > 0 then
  redis.call('HSET', KEYS[2], 'next', tostring(first + count * spacing))
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
else
  -- Unpaced: no slot to keep (0), written at once.
  for i = 1, count do
    slots[i] = 0
  end
end
return slots
