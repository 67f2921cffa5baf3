-- Puts accepted recoveries in their switch's queue (idempotent: replays and retries add nothing twice). All of a
-- batch's recoveries of one switch in one call: a few commands for the lot, not a few each.
-- KEYS[1] the switch's due set (call id scored by due time), KEYS[2] its in-flight set, KEYS[3] its deadlines
-- ARGV[1] key TTL (ms), then per recovery: call id, due (unix ms; 'held' for a held recovery: only its deadline is
-- queued, a release queues it later), deadline (unix ms)
local ids, deadlines = {}, {}
for i = 2, #ARGV, 3 do
  ids[#ids + 1] = ARGV[i]
  deadlines[#deadlines + 1] = ARGV[i + 2]
  deadlines[#deadlines + 1] = ARGV[i]
end
-- One already in flight (a replay after it was claimed) is not made due again.
local flying = redis.call('ZMSCORE', KEYS[2], unpack(ids))
local due = {}
for n, id in ipairs(ids) do
  if not flying[n] and ARGV[3 * n] ~= 'held' then
    due[#due + 1] = ARGV[3 * n]
    due[#due + 1] = id
  end
end
if #due > 0 then
  redis.call('ZADD', KEYS[1], 'NX', unpack(due))
end
redis.call('ZADD', KEYS[3], 'NX', unpack(deadlines))
for i = 1, 3 do
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
end
return #ids
