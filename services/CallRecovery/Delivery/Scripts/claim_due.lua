-- Takes up to N due commands of one switch for sending, moving them to in-flight until their
-- acknowledgement deadline; returns {claimed call ids, next due time}. Atomic, so replicas serving the same switch never take the same command.
-- KEYS[1] due set, KEYS[2] in-flight set (call id scored by acknowledgement deadline), KEYS[3] the switch's
-- admission bucket (tokens, at)
-- ARGV[1] now (ms), ARGV[2] how many, ARGV[3] acknowledgement deadline (ms), ARGV[4] key TTL (ms),
-- ARGV[5] the admission rate the switch's instances connected to the caller declared (commands per second for the
-- whole pool; 0: none)
local now, want, declared = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[5] or '0')
-- The admission rate, as a token bucket shared by every replica serving the switch. The rate is the lowest that
-- any live instance of the pool declared in the last minute (a replica whose own instances declared none still
-- keeps it). The bucket holds a twentieth of the rate (at least one command: a dispatch round of 20-50 ms can
-- take a round's worth) and fills at the rate less that, so
-- no second, however it is cut, carries more than the rate (below 2 per second: one more).
local bucket = redis.call('HMGET', KEYS[3], 'tokens', 'at', 'rate', 'rateAt')
local rate = declared
local storedRate, storedAt = tonumber(bucket[3]), tonumber(bucket[4])
local fresh = storedRate and storedAt and now - storedAt < 60000
if fresh and (rate == 0 or storedRate < rate) then
  rate = storedRate
end
if declared > 0 and (not fresh or declared <= storedRate) then
  redis.call('HSET', KEYS[3], 'rate', declared, 'rateAt', now)
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end
local tokens, capacity, fill
if rate > 0 then
  capacity = math.max(1, math.floor(rate / 20))
  fill = rate - capacity >= rate / 2 and rate - capacity or rate
  tokens = tonumber(bucket[1]) or capacity
  local at = tonumber(bucket[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - at) * fill / 1000)
  want = math.min(want, math.floor(tokens))
end
local members = {}
if want > 0 then
  members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, want)
end
if rate > 0 then
  tokens = tokens - #members
  redis.call('HSET', KEYS[3], 'tokens', tostring(tokens), 'at', ARGV[1])
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end
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
local nextDue = next[2] and tonumber(next[2]) or false
if nextDue and rate > 0 and nextDue <= now and tokens < 1 then
  -- Due already, but the bucket is empty: due when the next token is.
  nextDue = now + math.ceil((1 - tokens) * 1000 / fill)
end
return {members, nextDue}
