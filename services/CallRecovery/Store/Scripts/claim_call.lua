-- Round 1 for a candidate report: has this report been decided, or the call already recovered?
-- KEYS[1] the call's decisions hash (event id -> decision JSON)
-- KEYS[2] the call's recovery hash
-- ARGV[1] event id, ARGV[2] draft decision JSON, ARGV[3] retention in ms
-- Returns {'replay', decision} | {'new', decision} (recorded as duplicate) | {'open'}
local prior = redis.call('HGET', KEYS[1], ARGV[1])
if prior then
  return {'replay', prior}
end
local existing = redis.call('HGET', KEYS[2], 'recoveryId')
if not existing then
  return {'open'}
end
local decision = cjson.decode(ARGV[2])
decision.reason = 'duplicate'
decision.detail = 'the call already has recovery ' .. existing
decision.recoveryId = existing
local encoded = cjson.encode(decision)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'new', encoded}
