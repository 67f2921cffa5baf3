-- The kill switch: pauses or resumes every new callback command of every replica, and keeps the audit of who did it.
-- KEYS[1] the pause state (hash: paused, reason, by, since), KEYS[2] its audit trail (list, newest first)
-- ARGV[1] 1 to pause, 0 to resume; ARGV[2] reason; ARGV[3] by; ARGV[4] from; ARGV[5] now (ms); ARGV[6] TTL (ms);
-- ARGV[7] the longest audit trail kept, ARGV[8] the channel every replica listens on for changes
-- Returns { paused before (0/1), since before (ms or ''), by before, reason before, since now (ms) }
local before = redis.call('HMGET', KEYS[1], 'paused', 'since', 'by', 'reason')
local wasPaused = before[1] == '1' and 1 or 0
local paused = ARGV[1] == '1'
-- A pause already on keeps its start: the time nothing has been sent since.
local since = (paused and wasPaused == 1 and before[2]) or ARGV[5]
redis.call('HSET', KEYS[1], 'paused', paused and '1' or '0', 'since', since, 'by', ARGV[3], 'reason', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('LPUSH', KEYS[2], cjson.encode({ paused = paused, wasPaused = wasPaused == 1, reason = ARGV[2], by = ARGV[3], from = ARGV[4], at = tonumber(ARGV[5]) }))
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[7]) - 1)
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('PUBLISH', ARGV[8], paused and 'paused' or 'resumed')
return { wasPaused, before[2] or '', before[3] or '', before[4] or '', since }
