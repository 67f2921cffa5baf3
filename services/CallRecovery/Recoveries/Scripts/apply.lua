-- Writes a move the lifecycle decided (RecoveryLifecycle.Decide, in C#) if the recovery is still at the version the
-- decision read: no other move came in between. The names come from C# (FIELD, in front of this script).
-- KEYS[1] the recovery hash; ARGV[1] the version read; ARGV[2..] field, value pairs to write
-- Returns 1 when written; the recovery as it is now (field, value, ...) when another move came first, to decide
-- again; an empty list when the recovery is gone
local v = redis.call('HGET', KEYS[1], FIELD.Version)
if not v then
  if redis.call('EXISTS', KEYS[1]) == 0 then
    return {}
  end
  -- Stored before versions were written.
  v = '0'
end
if v ~= ARGV[1] then
  return redis.call('HGETALL', KEYS[1])
end
redis.call('HSET', KEYS[1], FIELD.Version, tonumber(v) + 1, unpack(ARGV, 2))
return 1
