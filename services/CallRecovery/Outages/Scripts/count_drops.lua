-- Counts one outage scope's (a cell's or a switching node's) dropped calls in a sliding window and declares an
-- incident when they reach the threshold. Calls are counted once however many reports name them. Every call counted
-- while an incident is open, and every call in the window when it is declared, is filed under the incident here, in
-- the same step: whatever holds them later, the incident's end releases them all.
-- KEYS[1] the scope's recent drops (call id scored by drop time), KEYS[2] its open incident (a hash; absent when none),
-- KEYS[3] the start of its last ended incident, KEYS[4] the open incident's held call ids
-- ARGV[1] now (ms), ARGV[2] window (ms), ARGV[3] threshold, ARGV[4] longest an incident stays open (ms),
-- ARGV[5] scope kind ('cell' | 'node'), ARGV[6] the cell or node as events name it, ARGV[7] the scope's id part,
-- then call id, drop time (ms) pairs (drop times after now are taken as now: a clock ahead cannot move an incident)
-- Returns {incident id or false, 2 when declared now, 1 when declared before and not yet announced, 0 otherwise, the
-- call ids filed under it when 2 or 1 (to hold), the call ids of these pairs filed under it (to create held)}
-- The window slides with the drops' own times (the latest drop the scope has seen), not with the service's clock:
-- a consumer catching up on a storm minutes late still sees the storm (drops older than the longest incident are
-- not counted: a replay from long ago declares nothing).
local now = tonumber(ARGV[1])
-- SADD in lots (Lua's unpack takes a few thousand values at most).
local function file(ids)
  for first = 1, #ids, 500 do
    redis.call('SADD', KEYS[4], unpack(ids, first, math.min(first + 499, #ids)))
  end
  redis.call('PEXPIRE', KEYS[4], ARGV[4])
end
-- Most scopes have no incident open and none ended lately, and most cells no drop in the window either: one EXISTS
-- tells both, instead of reading each. The window's key is named three times, so the answer is 3 x (the window has
-- drops) + (an incident is open) + (one ended lately).
local seen = redis.call('EXISTS', KEYS[2], KEYS[3], KEYS[1], KEYS[1], KEYS[1])
local quiet = seen % 3 == 0
-- A window made by this call holds exactly the drops it added: no need to count them.
local fresh = seen < 3
-- Drops up to the start of the scope's last incident belong to it (a retried batch must not declare it again).
local ended = quiet and 0 or tonumber(redis.call('GET', KEYS[3]) or '0')
local added, counted, newest = 0, {}, 0
-- A drop older than the longest incident (a replay from long ago) cannot be part of an outage still going on.
local horizon = now - tonumber(ARGV[4])
for i = 8, #ARGV, 2 do
  local at = math.min(tonumber(ARGV[i + 1]), now)
  if at > ended and at > horizon then
    added = added + redis.call('ZADD', KEYS[1], 'NX', at, ARGV[i])
    counted[#counted + 1] = ARGV[i]
    if at > newest then
      newest = at
    end
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local open = not quiet and redis.call('HGET', KEYS[2], 'id')
if not open and (fresh and added or redis.call('ZCARD', KEYS[1])) < tonumber(ARGV[3]) then
  -- Fewer drops in the set than the threshold, window or not: no incident, and nothing to trim yet (the set holds at
  -- most a threshold's worth beyond the window before it is trimmed, and expires a window after its last drop).
  return {false, 0, {}, {}}
end
-- The window ends at the latest drop the scope has seen.
local latest = math.max(newest, tonumber((redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES'))[2] or '0'))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (latest - tonumber(ARGV[2])))
if open then
  redis.call('HINCRBY', KEYS[2], 'count', added)
  if #counted > 0 then
    file(counted)
    redis.call('HSET', KEYS[2], 'held', redis.call('SCARD', KEYS[4]))
  end
  if redis.call('HGET', KEYS[2], 'announced') ~= '1' then
    -- Declared, but what follows a declaration (holding the calls before it, listing it as open) is not known to
    -- be done (a failed batch is retried): declared again, so the retry does it.
    return {open, 1, redis.call('SMEMBERS', KEYS[4]), counted}
  end
  return {open, 0, {}, counted}
end
local count = redis.call('ZCARD', KEYS[1])
if count < tonumber(ARGV[3]) then
  return {false, 0, {}, {}}
end
-- The incident starts at the earliest drop in the window (network time, as the traffic that ends it is), not when
-- this replica read it: with consumer lag, traffic after the outage began must still end it.
local start = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
local id = ARGV[7] .. '-' .. start
redis.call('HSET', KEYS[2], 'id', id, 'kind', ARGV[5], 'name', ARGV[6], 'start', start, 'count', count, 'state', 'open')
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local window = redis.call('ZRANGE', KEYS[1], 0, -1)
file(window)
redis.call('HSET', KEYS[2], 'held', #window)
-- Of these pairs, those in the window (an older one trimmed from it is not the incident's).
local inWindow = {}
for _, callId in ipairs(counted) do
  if redis.call('ZSCORE', KEYS[1], callId) then
    inWindow[#inWindow + 1] = callId
  end
end
return {id, 2, window, inWindow}
