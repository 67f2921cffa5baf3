-- Grants a customer's compensation credit for one recovery against their daily cap, once: the same recovery asked
-- again (a replay, an effect carried out again after a crash) gets the answer it had, and never counts twice.
-- KEYS[1] the customer's credits of one day (hash: 'r:' .. recovery id -> 1 credited, 0 not; 'credited' -> how many)
-- ARGV[1] recovery id, ARGV[2] daily cap, ARGV[3] 1 when the outcome carries a credit, ARGV[4] how long to keep (ms)
-- Returns {1 credited | 0 not, credits that day}
local field = 'r:' .. ARGV[1]
local got = redis.call('HMGET', KEYS[1], field, 'credited')
local credited = tonumber(got[2] or '0')
if got[1] then
  return {tonumber(got[1]), credited}
end
local grant = 0
if ARGV[3] == '1' and credited < tonumber(ARGV[2]) then
  grant = 1
  credited = credited + 1
end
redis.call('HSET', KEYS[1], field, grant, 'credited', credited)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {grant, credited}
