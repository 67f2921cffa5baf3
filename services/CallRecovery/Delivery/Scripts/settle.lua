-- Takes commands out of their switch's queue for good (sent and accepted, completed, expired, cancelled, gone).
-- KEYS[1] due set, KEYS[2] in-flight set, KEYS[3] deadlines, KEYS[4] supervision set; ARGV call ids
-- One ZREM per set for all of them (Lua's unpack takes a few thousand values at most; callers send fewer).
for i = 1, #KEYS do
  redis.call('ZREM', KEYS[i], unpack(ARGV))
end
return #ARGV
