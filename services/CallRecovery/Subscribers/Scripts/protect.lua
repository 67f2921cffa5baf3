-- An emergency call of a subscriber (made, or the emergency centre calling back): nothing of ours may call them
-- until the protection it gives ends. A call reported connected protects until a long limit (its end is not known
-- yet); reported ended, until its end plus the protection period, whichever report came first. Replays change nothing.
-- KEYS[1] the subscriber's emergency calls (hash: call id -> protection end, unix ms)
-- ARGV[1] the emergency call's id, ARGV[2] protection end (unix ms), ARGV[3] 'ended' | 'connected', ARGV[4] now (unix ms)
if ARGV[3] == 'ended' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
else
  redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
end
-- Protections that are over go; the key lives as long as the longest one left.
local now, latest = tonumber(ARGV[4]), 0
local calls = redis.call('HGETALL', KEYS[1])
for i = 1, #calls, 2 do
  local protectedUntil = tonumber(calls[i + 1])
  if protectedUntil <= now then
    redis.call('HDEL', KEYS[1], calls[i])
  elseif protectedUntil > latest then
    latest = protectedUntil
  end
end
if latest > 0 then
  -- Relative to the service's clock (ARGV[4]), never an instant on Redis's own.
  redis.call('PEXPIRE', KEYS[1], latest - now)
end
return latest
