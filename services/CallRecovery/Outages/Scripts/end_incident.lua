-- Ends a scope's open incident when the cell or node carries traffic again (evidence from after the incident
-- began): the incident and the call ids it held move to archive keys (for lookups, and for a retry), the drop count
-- starts afresh, and the held call ids are returned for release. Repeatable: within a minute of the end, the same
-- evidence returns the ended incident's held ids again (a failed batch is retried; releasing is idempotent).
-- KEYS[1] open incident, KEYS[2] its held call ids, KEYS[3] recent drops, KEYS[4] the scope's archive key prefix (the
-- incident's start appended; same hash slot), KEYS[5] the start of the scope's last ended incident
-- ARGV[1] now (ms), ARGV[2] evidence time (ms), ARGV[3] what the evidence was, ARGV[4] archive TTL (ms)
-- Returns {incident id, held call ids} or false when no incident ended
local incident = redis.call('HMGET', KEYS[1], 'id', 'start')
if not incident[1] then
  local last = redis.call('GET', KEYS[5])
  if not last or tonumber(ARGV[2]) <= tonumber(last) then
    return false
  end
  local archived = KEYS[4] .. last
  local ended = redis.call('HMGET', archived, 'id', 'end')
  if not ended[1] or tonumber(ARGV[1]) - tonumber(ended[2]) > 60000 then
    return false
  end
  return {ended[1], redis.call('SMEMBERS', archived .. ':held')}
end
if tonumber(ARGV[2]) <= tonumber(incident[2]) then
  return false
end
local held = redis.call('SMEMBERS', KEYS[2])
redis.call('HSET', KEYS[1], 'state', 'ended', 'end', ARGV[1], 'endedBy', ARGV[3], 'held', #held)
local archive = KEYS[4] .. incident[2]
redis.call('RENAME', KEYS[1], archive)
redis.call('PEXPIRE', archive, ARGV[4])
if #held > 0 then
  redis.call('RENAME', KEYS[2], archive .. ':held')
  redis.call('PEXPIRE', archive .. ':held', ARGV[4])
end
redis.call('SET', KEYS[5], incident[2], 'PX', ARGV[4])
redis.call('DEL', KEYS[3])
return {incident[1], held}
