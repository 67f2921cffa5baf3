-- A switch instance declares the admission rate of its pool (commands per second; 0: none). The lowest rate declared
-- in the last minute holds (every dispatch renews the declarations of the instances connected to its replica).
-- KEYS[1] the switch's admission state; ARGV[1] now (ms), ARGV[2] the rate declared, ARGV[3] key TTL (ms)
-- Returns the rate the pool is held to now (0: none)
local now, declared = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'rate', 'rateAt')
local storedRate, storedAt = tonumber(state[1]), tonumber(state[2])
local fresh = storedRate and storedAt and now - storedAt < 60000
if declared > 0 and (not fresh or declared <= storedRate) then
  redis.call('HSET', KEYS[1], 'rate', declared, 'rateAt', now)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return declared
end
if fresh then
  return storedRate
end
return 0
