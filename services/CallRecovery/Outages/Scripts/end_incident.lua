-- Ends a scope's open incident when the cell or node carries traffic again (evidence from after the incident
-- began): the incident moves to an archive key (for lookups), the drop count starts afresh, and the call ids it holds
-- move to the scope's releasing set ("incident id|call id"), from which they are taken only once released: an end
-- is done however late a retry comes, by whichever replica gets there.
-- KEYS[1] open incident, KEYS[2] its held call ids, KEYS[3] recent drops, KEYS[4] the scope's archive key prefix (the
-- incident's start appended; same slot), KEYS[5] the start of the scope's last ended incident, KEYS[6] the releasing set
-- ARGV[1] now (ms), ARGV[2] evidence time (ms), ARGV[3] what the evidence was, ARGV[4] archive TTL (ms)
-- Returns {incident id, held count} or false when no incident ended
local incident = redis.call('HMGET', KEYS[1], 'id', 'start')
if not incident[1] or tonumber(ARGV[2]) <= tonumber(incident[2]) then
  return false
end
local held = redis.call('SMEMBERS', KEYS[2])
redis.call('HSET', KEYS[1], 'state', 'ended', 'end', ARGV[1], 'endedBy', ARGV[3], 'held', #held)
local archive = KEYS[4] .. incident[2]
redis.call('RENAME', KEYS[1], archive)
redis.call('PEXPIRE', archive, ARGV[4])
for first = 1, #held, 500 do
  local lot = {}
  for i = first, math.min(first + 499, #held) do
    lot[#lot + 1] = incident[1] .. '|' .. held[i]
  end
  redis.call('SADD', KEYS[6], unpack(lot))
end
if #held > 0 then
  redis.call('PEXPIRE', KEYS[6], ARGV[4])
  redis.call('DEL', KEYS[2])
end
redis.call('SET', KEYS[5], incident[2], 'PX', ARGV[4])
redis.call('DEL', KEYS[3])
return {incident[1], #held}
