-- Files a recovery under its two parties, so a call-connected event between them finds it to cancel; kept until
-- a minute past the recovery's deadline (only ever extended by later recoveries of the pair).
-- KEYS[1] the pair's recoveries (set of call ids)
-- ARGV[1] call id, ARGV[2] keep until (unix ms)
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 1
