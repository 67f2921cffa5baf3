-- Round 1 for a candidate report: has this report been decided, or the call already recovered?
-- Writes nothing: a report that finds its call taken is recorded as a duplicate only after any window place
-- it may hold has been given back (crash-safe accounting).
-- KEYS[1] the call's decisions hash (event id -> decision JSON), KEYS[2] the call's recovery hash
-- ARGV[1] event id
-- Returns {'replay', decision} | {'taken', recovery id, callback number} | {'open'}
local prior = redis.call('HGET', KEYS[1], ARGV[1])
if prior then
  return {'replay', prior}
end
local existing = redis.call('HMGET', KEYS[2], 'recoveryId', 'callBack')
if not existing[1] then
  return {'open'}
end
return {'taken', existing[1], existing[2] or ''}
