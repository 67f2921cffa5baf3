-- Creates a call's recovery if it has none: the first accepted report of the call wins.
-- KEYS[1] the recovery hash; ARGV[1] retention (ms); ARGV[2..] field, value pairs
-- Returns 1 when created (at version 1); the recovery already stored (field, value, ...) otherwise
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HGETALL', KEYS[1])
end
redis.call('HSET', KEYS[1], FIELD.Version, 1, unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
