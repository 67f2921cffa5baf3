-- Gives in-flight commands back to the due set (their connection broke, the switch rejected them, or their
-- acknowledgement timed out); a vulnerable customer's back to the priority due set. Only commands still in flight
-- move: one acknowledged meanwhile stays done. Per command: call id, due (unix ms).
-- KEYS[1] due set, KEYS[2] in-flight set, KEYS[3] deadlines, KEYS[4] supervision set, KEYS[5] priority due set,
-- KEYS[6] the priority commands' call ids
-- Done for all of them at once (a few commands, not two or three per command), in lots of 500 commands (Lua's unpack
-- takes a few thousand values at most): which are in flight (ZMSCORE), those out of it (ZREM), which are priority
-- (SMISMEMBER), and each queue's ZADD. A call id named again is left to its first naming, as command by command it
-- found itself no longer in flight.
local moved, seen = 0, {}
for first = 1, #ARGV, 1000 do
  local ids, dues = {}, {}
  for i = first, math.min(first + 999, #ARGV), 2 do
    if not seen[ARGV[i]] then
      seen[ARGV[i]] = true
      ids[#ids + 1] = ARGV[i]
      dues[#ids] = ARGV[i + 1]
    end
  end
  if #ids > 0 then
    local inFlight = redis.call('ZMSCORE', KEYS[2], unpack(ids))
    local out = {}
    for n = 1, #ids do
      if inFlight[n] then
        out[#out + 1] = n
      end
    end
    if #out > 0 then
      local names = {}
      for m, n in ipairs(out) do
        names[m] = ids[n]
      end
      redis.call('ZREM', KEYS[2], unpack(names))
      local priority = redis.call('SMISMEMBER', KEYS[6], unpack(names))
      local queued = { [KEYS[1]] = {}, [KEYS[5]] = {} }
      for m, n in ipairs(out) do
        local list = queued[priority[m] == 1 and KEYS[5] or KEYS[1]]
        list[#list + 1] = dues[n]
        list[#list + 1] = ids[n]
      end
      for _, queue in ipairs({ KEYS[1], KEYS[5] }) do
        if #queued[queue] > 0 then
          redis.call('ZADD', queue, unpack(queued[queue]))
        end
      end
      moved = moved + #out
    end
  end
end
return moved
