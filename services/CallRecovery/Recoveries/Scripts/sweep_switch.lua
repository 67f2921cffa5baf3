-- One switch's housekeeping. Commands whose acknowledgement is overdue go back to due (sent again, to any
-- live connection). Commands past their deadline are leased to the caller for expiry: their deadline score
-- moves to the lease end, so another replica only takes them if this one dies before finishing.
-- KEYS[1] due set, KEYS[2] in-flight set, KEYS[3] deadlines
-- ARGV[1] now (ms), ARGV[2] lease end (ms), ARGV[3] most to lease
-- Returns {overdue call ids, leased call ids}
local overdue = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, member in ipairs(overdue) do
  redis.call('ZREM', KEYS[2], member)
  redis.call('ZADD', KEYS[1], ARGV[1], member)
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(expired) do
  redis.call('ZADD', KEYS[3], ARGV[2], member)
end
return {overdue, expired}
