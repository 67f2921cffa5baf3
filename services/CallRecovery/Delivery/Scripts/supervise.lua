-- Accepted callbacks await their outcome: out of the switch's due, in-flight and deadline sets, into its supervision
-- set until the switch's silence would end them. Per command: call id, supervised until (unix ms), key TTL (ms).
-- KEYS[1] due set, KEYS[2] in-flight set, KEYS[3] deadlines, KEYS[4] supervision set, KEYS[5] priority due set
-- One ZREM per set and one ZADD for all the commands (each: in lots).
local ids, scored = {}, {}
for i = 1, #ARGV - 1, 3 do
  ids[#ids + 1] = ARGV[i]
  scored[#scored + 1] = ARGV[i + 1]
  scored[#scored + 1] = ARGV[i]
end
for _, k in ipairs({1, 2, 3, 5}) do
  each(ids, 'ZREM', KEYS[k])
end
each(scored, 'ZADD', KEYS[4])
redis.call('PEXPIRE', KEYS[4], ARGV[#ARGV])
return #ARGV / 3
