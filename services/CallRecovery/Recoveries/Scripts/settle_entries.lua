-- Removes commands that need no more delivery (acknowledged, completed, expired, cancelled, void).
-- KEYS[1] due set, KEYS[2] in-flight set, KEYS[3] deadlines (left out to park a held command: its deadline stays); ARGV call ids
-- One ZREM per set for all of them (Lua's unpack takes a few thousand values at most; callers send fewer).
for i = 1, #KEYS do
  redis.call('ZREM', KEYS[i], unpack(ARGV))
end
return #ARGV
