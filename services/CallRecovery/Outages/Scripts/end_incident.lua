-- Ends a scope's open incident when the cell or node carries traffic again (evidence from after the incident
-- began): the incident moves to its archive key for lookups, its held call ids are returned for release, and the
-- drop count starts afresh.
-- KEYS[1] open incident, KEYS[2] held call ids, KEYS[3] recent drops, KEYS[4] archive key prefix (the id's start appended)
-- ARGV[1] now (ms), ARGV[2] evidence time (ms), ARGV[3] what the evidence was, ARGV[4] archive TTL (ms)
-- Returns {incident id, held call ids} or false when no incident ended
local incident = redis.call('HMGET', KEYS[1], 'id', 'start')
if not incident[1] or tonumber(ARGV[2]) <= tonumber(incident[2]) then
  return false
end
local held = redis.call('SMEMBERS', KEYS[2])
redis.call('HSET', KEYS[1], 'state', 'ended', 'end', ARGV[1], 'endedBy', ARGV[3], 'held', #held)
local archive = KEYS[4] .. incident[2]
redis.call('RENAME', KEYS[1], archive)
redis.call('PEXPIRE', archive, ARGV[4])
redis.call('DEL', KEYS[2], KEYS[3])
return {incident[1], held}
