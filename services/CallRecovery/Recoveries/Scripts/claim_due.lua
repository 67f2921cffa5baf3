-- Takes up to N due commands of one switch for sending, moving them to in-flight until their
-- acknowledgement deadline; returns {claimed call ids, next due time}. Atomic, so replicas serving the same switch never take the same command.
-- KEYS[1] due set, KEYS[2] in-flight set (call id scored by acknowledgement deadline)
-- ARGV[1] now (ms), ARGV[2] how many, ARGV[3] acknowledgement deadline (ms), ARGV[4] key TTL (ms)
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
-- Claimed a few hundred at a time: one ZREM and one ZADD for each lot, not one each (and no more values at once
-- than Lua's unpack takes, however many instances a switch has here).
for first = 1, #members, 500 do
  local lot, scored = {}, {}
  for i = first, math.min(first + 499, #members) do
    lot[#lot + 1] = members[i]
    scored[#scored + 1] = ARGV[3]
    scored[#scored + 1] = members[i]
  end
  redis.call('ZREM', KEYS[1], unpack(lot))
  redis.call('ZADD', KEYS[2], unpack(scored))
end
if #members > 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
-- And when the next one left is due (unix ms, or false when none is left), so the caller sleeps until exactly
-- then, whichever replica queued it: a batch's recoveries fall due over a few milliseconds, and only the batch's
-- earliest due time is announced.
local next = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {members, next[2] or false}
