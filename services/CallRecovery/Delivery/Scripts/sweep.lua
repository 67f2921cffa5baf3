-- One switch's housekeeping: what is overdue is leased to the caller, who moves it through the lifecycle's door;
-- its score moves to the lease end, so another replica takes it only if this one dies before finishing.
-- KEYS[1] due set, KEYS[2] in-flight set, KEYS[3] deadlines, KEYS[4] supervision set
-- ARGV[1] now (ms), ARGV[2] lease end (ms), ARGV[3] most to lease of each kind
-- Returns {unacknowledged past their acknowledgement deadline, past their deadline, accepted and silent too long}
local function lease(key)
  local due = redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
  for _, member in ipairs(due) do
    redis.call('ZADD', key, ARGV[2], member)
  end
  return due
end
return {lease(KEYS[2]), lease(KEYS[3]), lease(KEYS[4])}
