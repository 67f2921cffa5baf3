-- Puts commands in their switch's queue. Per command: call id, due (unix ms), deadline (unix ms), mode, priority ('1'
-- for a vulnerable customer's: their own due set, claimed before any other), key TTL (ms).
-- Mode 'ensure' (a recovery created, or a move repeated after a failure): added only if it is not queued already (at
-- another due time, such as a rejection's backoff) and not in flight, so a replay never sends twice. Mode 'move' (a
-- release, a retry, a deferral): due at that time, out of in-flight and supervision.
-- KEYS[1] due set, KEYS[2] in-flight set, KEYS[3] deadlines, KEYS[4] supervision set, KEYS[5] priority due set,
-- KEYS[6] the priority commands' call ids (so a requeue keeps them first) (one switch: one slot)
-- ARGV: the commands' fields, six per command (so calls on the same switch merge into one)
local ttl = ARGV[#ARGV]
-- Each command's steps touch only its own call id, so when every call id comes once, commands do not see each other
-- and each step is done for all of them in one command per key (a few, not three per command). A call id named twice
-- (rare: two callers' calls merged) is done command by command, in order, as the later must see the earlier.
local once, seen = true, {}
for i = 1, #ARGV, 6 do
  if seen[ARGV[i]] then
    once = false
    break
  end
  seen[ARGV[i]] = true
end
if not once then
  for i = 1, #ARGV, 6 do
    local id, due, deadline, mode = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local queue = KEYS[1]
    if ARGV[i + 4] == '1' then
      queue = KEYS[5]
      redis.call('SADD', KEYS[6], id)
    end
    if mode == 'move' then
      redis.call('ZREM', KEYS[2], id)
      redis.call('ZREM', KEYS[4], id)
      redis.call('ZADD', queue, due, id)
    elseif not redis.call('ZSCORE', KEYS[2], id) then
      redis.call('ZADD', queue, 'NX', due, id)
    end
    redis.call('ZADD', KEYS[3], 'NX', deadline, id)
  end
else
  local priority, moved, ensured, deadlines = {}, {}, {}, {}
  local queued = { [KEYS[1]] = { moved = {}, ensured = {} }, [KEYS[5]] = { moved = {}, ensured = {} } }
  for i = 1, #ARGV, 6 do
    local id, due, deadline, mode = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local queue = KEYS[1]
    if ARGV[i + 4] == '1' then
      queue = KEYS[5]
      priority[#priority + 1] = id
    end
    if mode == 'move' then
      moved[#moved + 1] = id
      local list = queued[queue].moved
      list[#list + 1] = due
      list[#list + 1] = id
    else
      ensured[#ensured + 1] = { queue, due, id }
    end
    deadlines[#deadlines + 1] = deadline
    deadlines[#deadlines + 1] = id
  end
  each(priority, 'SADD', KEYS[6])
  each(moved, 'ZREM', KEYS[2])
  each(moved, 'ZREM', KEYS[4])
  if #ensured > 0 then
    local ids = {}
    for n, e in ipairs(ensured) do
      ids[n] = e[3]
    end
    -- In flight already: sent and not yet answered, so not queued again (a replay never sends twice).
    local inFlight = {}
    for first = 1, #ids, 1000 do
      local scores = redis.call('ZMSCORE', KEYS[2], unpack(ids, first, math.min(first + 999, #ids)))
      for n = 1, #scores do
        inFlight[first + n - 1] = scores[n]
      end
    end
    for n, e in ipairs(ensured) do
      if not inFlight[n] then
        local list = queued[e[1]].ensured
        list[#list + 1] = e[2]
        list[#list + 1] = e[3]
      end
    end
  end
  for _, queue in ipairs({ KEYS[1], KEYS[5] }) do
    each(queued[queue].moved, 'ZADD', queue)
    each(queued[queue].ensured, 'ZADD', queue, 'NX')
  end
  each(deadlines, 'ZADD', KEYS[3], 'NX')
end
for _, k in ipairs({1, 2, 3, 5, 6}) do
  redis.call('PEXPIRE', KEYS[k], ttl)
end
return #ARGV / 6
