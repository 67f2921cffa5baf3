-- Records the decision for one report of a call, once: a report decided before (a replay) keeps its first decision.
-- The one exception is an invalid note (the report was dead-lettered): the report's first real decision (its dead
-- letter redriven under a configuration that accepts it) takes the note's place, and the note is kept beside it.
-- KEYS[1] the call's decisions hash (event id -> decision JSON)
-- ARGV[1] event id, ARGV[2] decision JSON, ARGV[3] retention in ms,
-- ARGV[4] the JSON property holding a decision's reason, ARGV[5] the invalid reason's name when this decision may
-- take an invalid note's place ('' when it may not), ARGV[6] the field a replaced note is kept under
-- Returns {'replay', the decision recorded before} | {'new'} (this one recorded)
-- Most reports are decided for the first time: written only if none is there (HSETNX), no read before.
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'new'}
end
local prior = redis.call('HGET', KEYS[1], ARGV[1])
local ok, decoded = pcall(cjson.decode, prior)
if ARGV[5] == '' or not ok or type(decoded) ~= 'table' or decoded[ARGV[4]] ~= ARGV[5] then
  return {'replay', prior}
end
redis.call('HSET', KEYS[1], ARGV[6], prior, ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'new'}
