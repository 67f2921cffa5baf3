-- Removes commands that need no more delivery (acknowledged, completed, expired, cancelled, void).
-- KEYS[1] due set, KEYS[2] in-flight set, KEYS[3] deadlines; ARGV call ids
for i = 1, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
  redis.call('ZREM', KEYS[3], ARGV[i])
end
return #ARGV
