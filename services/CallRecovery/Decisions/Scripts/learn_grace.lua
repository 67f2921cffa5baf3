-- What a place (a cell, or its area) teaches about redials: its drops that became recoveries, the recoveries whose
-- parties redialled by themselves, and how long after the drop they did (one-second buckets). Old evidence fades: once
-- the drops pass the cap every count is halved, so a place that changes its ways is learned again.
-- KEYS[1] the place's hash (drops, redials, b<seconds>)
-- ARGV[1] 'drop' or 'redial', ARGV[2] the redial's bucket (whole seconds, rounded up), ARGV[3] cap, ARGV[4] TTL (ms)
local drops
if ARGV[1] == 'drop' then
  drops = redis.call('HINCRBY', KEYS[1], 'drops', 1)
else
  redis.call('HINCRBY', KEYS[1], 'redials', 1)
  redis.call('HINCRBY', KEYS[1], 'b' .. ARGV[2], 1)
  drops = tonumber(redis.call('HGET', KEYS[1], 'drops') or '0')
end
if drops > tonumber(ARGV[3]) then
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    redis.call('HSET', KEYS[1], all[i], math.floor(tonumber(all[i + 1]) / 2))
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return drops
