-- Files recoveries under the incident that holds them, if it is still open (it may have ended since they were held).
-- KEYS[1] the scope's open incident, KEYS[2] the incident's held call ids
-- ARGV[1] incident id, ARGV[2] key TTL (ms), ARGV[3..] call ids
-- Returns 1 when filed, 0 when the incident has ended (the caller releases them itself)
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then
  return 0
end
redis.call('SADD', KEYS[2], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'held', redis.call('SCARD', KEYS[2]))
return 1
