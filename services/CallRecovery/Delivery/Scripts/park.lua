-- Takes held commands out of their switch's due and in-flight sets; their deadline stays (or is added, for one
-- created held), so a held recovery still expires. Per command: call id, deadline (unix ms), key TTL (ms).
-- KEYS[1] due set, KEYS[2] in-flight set, KEYS[3] deadlines, KEYS[4] supervision set, KEYS[5] priority due set
for i = 1, #ARGV, 3 do
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[5], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
  redis.call('ZADD', KEYS[3], 'NX', ARGV[i + 1], ARGV[i])
end
redis.call('PEXPIRE', KEYS[3], ARGV[#ARGV])
return #ARGV / 3
