-- Takes commands out of their switch's queue for good (sent and accepted, completed, expired, cancelled, gone).
-- KEYS[1] due set, KEYS[2] in-flight set, KEYS[3] deadlines, KEYS[4] supervision set, KEYS[5] priority due set,
-- KEYS[6] the priority commands' call ids; ARGV call ids
-- One removal per key for all of them (Lua's unpack takes a few thousand values at most; callers send fewer).
for i = 1, 5 do
  redis.call('ZREM', KEYS[i], unpack(ARGV))
end
redis.call('SREM', KEYS[6], unpack(ARGV))
return #ARGV
