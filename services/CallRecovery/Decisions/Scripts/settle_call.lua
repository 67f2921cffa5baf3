-- Records the decision for one report of a call, once: a report decided before (a replay) keeps its first decision.
-- KEYS[1] the call's decisions hash (event id -> decision JSON)
-- ARGV[1] event id, ARGV[2] decision JSON, ARGV[3] retention in ms
-- Returns {'replay', decision} | {'new', decision}
local prior = redis.call('HGET', KEYS[1], ARGV[1])
if prior then
  return {'replay', prior}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'new', ARGV[2]}
