-- Takes held commands out of their switch's due and in-flight sets; their deadline stays (or is added, for one
-- created held), so a held recovery still expires. Per command: call id, deadline (unix ms), key TTL (ms).
-- KEYS[1] due set, KEYS[2] in-flight set, KEYS[3] deadlines, KEYS[4] supervision set, KEYS[5] priority due set
-- One removal per key and one ZADD NX for all of them (the same result as command by command: removals do not depend
-- on order, and of one call id named twice the first deadline stays either way); each: in lots.
local ids, deadlines = {}, {}
for i = 1, #ARGV - 1, 3 do
  ids[#ids + 1] = ARGV[i]
  deadlines[#deadlines + 1] = ARGV[i + 1]
  deadlines[#deadlines + 1] = ARGV[i]
end
for _, k in ipairs({1, 5, 2}) do
  each(ids, 'ZREM', KEYS[k])
end
each(deadlines, 'ZADD', KEYS[3], 'NX')
redis.call('PEXPIRE', KEYS[3], ARGV[#ARGV])
return #ARGV / 3
