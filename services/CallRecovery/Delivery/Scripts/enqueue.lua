-- Puts commands in their switch's queue. Per command: call id, due (unix ms), deadline (unix ms), mode, key TTL (ms).
-- Mode 'ensure' (a recovery created, or a move repeated after a failure): added only if it is not queued already (at
-- another due time, such as a rejection's backoff) and not in flight, so a replay never sends twice. Mode 'move' (a
-- release, a retry, a deferral): due at that time, out of in-flight and supervision.
-- KEYS[1] due set, KEYS[2] in-flight set, KEYS[3] deadlines, KEYS[4] supervision set (one switch: one slot)
-- ARGV: the commands' fields, five per command (so calls on the same switch merge into one)
for i = 1, #ARGV, 5 do
  local id, due, deadline, mode = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if mode == 'move' then
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[4], id)
    redis.call('ZADD', KEYS[1], due, id)
  elseif not redis.call('ZSCORE', KEYS[2], id) then
    redis.call('ZADD', KEYS[1], 'NX', due, id)
  end
  redis.call('ZADD', KEYS[3], 'NX', deadline, id)
end
for k = 1, 3 do
  redis.call('PEXPIRE', KEYS[k], ARGV[#ARGV])
end
return #ARGV / 5
