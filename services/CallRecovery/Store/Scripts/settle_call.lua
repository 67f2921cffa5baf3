-- Final round: record the decision for one report and, when it is accepted, create the call's recovery.
-- A second accepted report of a call that meanwhile got its recovery is recorded as a duplicate.
-- KEYS[1] the call's decisions hash, KEYS[2] the call's recovery hash
-- ARGV[1] event id, ARGV[2] decision JSON, ARGV[3] retention in ms,
-- ARGV[4] '1' to create the recovery, then ARGV[5..] the recovery's field/value pairs
-- Returns {'replay', decision} | {'new', decision} | {'duplicate', decision, callback number of the existing recovery}
local prior = redis.call('HGET', KEYS[1], ARGV[1])
if prior then
  return {'replay', prior}
end
local encoded = ARGV[2]
local result = 'new'
local existingCallBack = ''
if ARGV[4] == '1' then
  local existing = redis.call('HGET', KEYS[2], 'recoveryId')
  if existing then
    local decision = cjson.decode(encoded)
    decision.reason = 'duplicate'
    decision.detail = 'the call already has recovery ' .. existing
    decision.recoveryId = existing
    encoded = cjson.encode(decision)
    result = 'duplicate'
    existingCallBack = redis.call('HGET', KEYS[2], 'callBack') or ''
  else
    local fields = {}
    for i = 5, #ARGV do
      fields[#fields + 1] = ARGV[i]
    end
    redis.call('HSET', KEYS[2], unpack(fields))
    redis.call('PEXPIRE', KEYS[2], ARGV[3])
  end
end
redis.call('HSET', KEYS[1], ARGV[1], encoded)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {result, encoded, existingCallBack}
