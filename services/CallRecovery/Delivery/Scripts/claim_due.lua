-- Takes up to N due commands of one switch for sending, moving them to in-flight until their acknowledgement
-- deadline. Atomic, so replicas serving the same switch never take the same command.
-- With an admission rate, each command taken gets a send slot: slots are spaced (1000 + tolerance) / rate ms apart,
-- shared by every replica (the theoretical time of the next slot is kept here), no earlier than `lead` from now, and
-- only commands whose slot falls within `horizon` from now are taken. A replica writes each command to the switch at
-- its slot; if it writes within `tolerance` of it, no second at the switch, however it is cut, carries more than the
-- rate, whichever replicas send.
-- Vulnerable customers' commands (their own due set) are taken first, so they get the earliest slots: none waits behind
-- another customer's command but those already given a slot (at most the horizon ahead).
-- KEYS[1] due set, KEYS[2] in-flight set (call id scored by acknowledgement deadline), KEYS[3] the switch's admission
-- state (rate, rateAt: the lowest rate declared lately; next: the next free slot, unix ms), KEYS[4] priority due set
-- ARGV[1] now (ms), ARGV[2] how many, ARGV[3] acknowledgement timeout (ms), ARGV[4] key TTL (ms), ARGV[5] the admission
-- rate the switch's instances connected to the caller declared (commands per second for the whole pool; 0: none),
-- ARGV[6] lead (ms), ARGV[7] horizon (ms), ARGV[8] tolerance (ms)
-- Returns {claimed call ids, their send slots (unix ms; 0 when unpaced), when to claim again (unix ms, or false when nothing is left)}
local now, want, declared = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[5] or '0')
local lead, horizon, tolerance = tonumber(ARGV[6] or '0'), tonumber(ARGV[7] or '0'), tonumber(ARGV[8] or '0')
-- The rate is the lowest that any live instance of the pool declared in the last minute (a replica whose own
-- instances declared none still keeps it).
local state = redis.call('HMGET', KEYS[3], 'rate', 'rateAt', 'next')
local rate = declared
local storedRate, storedAt = tonumber(state[1]), tonumber(state[2])
local fresh = storedRate and storedAt and now - storedAt < 60000
if fresh and (rate == 0 or storedRate < rate) then
  rate = storedRate
end
if declared > 0 and (not fresh or declared <= storedRate) then
  redis.call('HSET', KEYS[3], 'rate', declared, 'rateAt', now)
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end
local first, spacing = now, 0
if rate > 0 then
  spacing = (1000 + tolerance) / rate
  first = math.max(tonumber(state[3]) or 0, now + lead)
  want = math.max(0, math.min(want, math.floor((now + horizon - first) / spacing) + 1))
end
local members = {}
if want > 0 then
  members = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[1], 'LIMIT', 0, want)
  if #members < want then
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, want - #members)) do
      members[#members + 1] = member
    end
  end
end
local slots = {}
for i = 1, #members do
  slots[i] = math.floor(first + (i - 1) * spacing)
end
if rate > 0 and #members > 0 then
  redis.call('HSET', KEYS[3], 'next', tostring(first + #members * spacing))
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end
-- Claimed a few hundred at a time: one ZREM and one ZADD for each lot, not one each (and no more values at once
-- than Lua's unpack takes, however many instances a switch has here). Acknowledgements are due from the slot on.
for lotStart = 1, #members, 500 do
  local lot, scored = {}, {}
  for i = lotStart, math.min(lotStart + 499, #members) do
    lot[#lot + 1] = members[i]
    scored[#scored + 1] = slots[i] + tonumber(ARGV[3])
    scored[#scored + 1] = members[i]
  end
  redis.call('ZREM', KEYS[1], unpack(lot))
  redis.call('ZREM', KEYS[4], unpack(lot))
  redis.call('ZADD', KEYS[2], unpack(scored))
end
if #members > 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
-- And when to claim again: when the next command left is due (whichever replica queued it: a batch's recoveries fall
-- due over a few milliseconds, and only the batch's earliest due time is announced), or, with a rate, when the next
-- slot comes within the horizon.
local nextDue = false
for _, key in ipairs({KEYS[4], KEYS[1]}) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] and (not nextDue or tonumber(first[2]) < nextDue) then
    nextDue = tonumber(first[2])
  end
end
if nextDue and rate > 0 then
  local nextSlot = math.max(tonumber(redis.call('HGET', KEYS[3], 'next') or '0'), now + lead)
  nextDue = math.max(nextDue, nextSlot - horizon)
end
-- Unpaced, a command has no slot to keep (0): it is written as soon as the round gets to it.
if rate == 0 then
  for i = 1, #slots do
    slots[i] = 0
  end
end
return {members, slots, nextDue}
