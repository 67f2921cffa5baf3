-- Puts commands in their switch's queue. Per command: call id, due (unix ms), deadline (unix ms), mode, priority ('1'
-- for a vulnerable customer's: their own due set, claimed before any other), key TTL (ms).
-- Mode 'ensure' (a recovery created, or a move repeated after a failure): added only if it is not queued already (at
-- another due time, such as a rejection's backoff) and not in flight, so a replay never sends twice. Mode 'move' (a
-- release, a retry, a deferral): due at that time, out of in-flight and supervision.
-- KEYS[1] due set, KEYS[2] in-flight set, KEYS[3] deadlines, KEYS[4] supervision set, KEYS[5] priority due set,
-- KEYS[6] the priority commands' call ids (so a requeue keeps them first) (one switch: one slot)
-- ARGV: the commands' fields, six per command (so calls on the same switch merge into one)
local ttl = ARGV[#ARGV]
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
for _, k in ipairs({1, 2, 3, 5, 6}) do
  redis.call('PEXPIRE', KEYS[k], ttl)
end
return #ARGV / 6
