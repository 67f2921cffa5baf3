-- A customer asked for no callbacks until a time: remembered until then, relative to the service's clock. The latest
-- end wins, so a replayed or older answer never shortens a longer one.
-- KEYS[1] the customer's not-now key; ARGV[1] until (unix ms), ARGV[2] now (unix ms)
local known = tonumber(redis.call('GET', KEYS[1]) or '0')
local untilMs = tonumber(ARGV[1])
if untilMs > known and untilMs > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', untilMs - tonumber(ARGV[2]))
end
return 1
