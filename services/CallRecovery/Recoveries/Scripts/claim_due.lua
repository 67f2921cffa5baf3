-- Takes up to N due commands of one switch for sending, moving them to in-flight until their
-- acknowledgement deadline. Atomic, so replicas serving the same switch never take the same command.
-- KEYS[1] due set, KEYS[2] in-flight set (call id scored by acknowledgement deadline)
-- ARGV[1] now (ms), ARGV[2] how many, ARGV[3] acknowledgement deadline (ms), ARGV[4] key TTL (ms)
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #members > 0 then
  -- All claimed at once: one ZREM and one ZADD for the lot, not one each.
  local scored = {}
  for i, member in ipairs(members) do
    scored[2 * i - 1] = ARGV[3]
    scored[2 * i] = member
  end
  redis.call('ZREM', KEYS[1], unpack(members))
  redis.call('ZADD', KEYS[2], unpack(scored))
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return members
