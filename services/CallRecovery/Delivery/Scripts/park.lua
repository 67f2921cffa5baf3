-- Takes held commands out of their switch's due and in-flight sets; their deadline stays (or is added, for one
-- created held), so a held recovery still expires. Per command: call id, deadline (unix ms), key TTL (ms).
-- KEYS[1] due set, KEYS[2] in-flight set, KEYS[3] deadlines, KEYS[4] supervision set, KEYS[5] priority due set
-- One removal per key and one ZADD NX for all of them (the same result as command by command: removals do not depend
-- on order, and of one call id named twice the first deadline stays either way), in lots of 500 commands (Lua's
-- unpack takes a few thousand values at most).
for first = 1, #ARGV, 1500 do
  local ids, deadlines = {}, {}
  for i = first, math.min(first + 1499, #ARGV), 3 do
    ids[#ids + 1] = ARGV[i]
    deadlines[#deadlines + 1] = ARGV[i + 1]
    deadlines[#deadlines + 1] = ARGV[i]
  end
  for _, k in ipairs({1, 5, 2}) do
    redis.call('ZREM', KEYS[k], unpack(ids))
  end
  redis.call('ZADD', KEYS[3], 'NX', unpack(deadlines))
end
redis.call('PEXPIRE', KEYS[3], ARGV[#ARGV])
return #ARGV / 3
