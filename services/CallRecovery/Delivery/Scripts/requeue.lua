-- Gives in-flight commands back to the due set (their connection broke, the switch rejected them, or their
-- acknowledgement timed out); a vulnerable customer's back to the priority due set. Only commands still in flight
-- move: one acknowledged meanwhile stays done. Per command: call id, due (unix ms).
-- KEYS[1] due set, KEYS[2] in-flight set, KEYS[3] deadlines, KEYS[4] supervision set, KEYS[5] priority due set,
-- KEYS[6] the priority commands' call ids
local moved = 0
for i = 1, #ARGV, 2 do
  if redis.call('ZREM', KEYS[2], ARGV[i]) == 1 then
    local queue = redis.call('SISMEMBER', KEYS[6], ARGV[i]) == 1 and KEYS[5] or KEYS[1]
    redis.call('ZADD', queue, ARGV[i + 1], ARGV[i])
    moved = moved + 1
  end
end
return moved
