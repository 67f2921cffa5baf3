-- Final round: record the decision for one report and, when it is accepted, create the call's recovery.
-- An accepted report whose call meanwhile got its recovery (another report won) records nothing: the caller
-- gives back its window place first, then records it as a duplicate.
-- KEYS[1] the call's decisions hash, KEYS[2] the call's recovery hash
-- ARGV[1] event id, ARGV[2] decision JSON, ARGV[3] retention in ms,
-- ARGV[4] '1' to create the recovery, then ARGV[5..] the recovery's field/value pairs
-- Returns {'replay', decision} | {'new', decision} | {'taken', recovery id, callback number}
local prior = redis.call('HGET', KEYS[1], ARGV[1])
if prior then
  return {'replay', prior}
end
if ARGV[4] == '1' then
  local existing = redis.call('HMGET', KEYS[2], 'recoveryId', 'callBack')
  if existing[1] then
    return {'taken', existing[1], existing[2] or ''}
  end
  local fields = {}
  for i = 5, #ARGV do
    fields[#fields + 1] = ARGV[i]
  end
  redis.call('HSET', KEYS[2], unpack(fields))
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'new', ARGV[2]}
