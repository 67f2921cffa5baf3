-- Gives in-flight commands back to the due set (their connection broke, or the switch rejected them).
-- Only commands still in flight move: one acknowledged meanwhile stays done.
-- KEYS[1] due set, KEYS[2] in-flight set; ARGV[1] due time (ms), ARGV[2..] call ids
local moved = 0
for i = 2, #ARGV do
  if redis.call('ZREM', KEYS[2], ARGV[i]) == 1 then
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
    moved = moved + 1
  end
end
return moved
