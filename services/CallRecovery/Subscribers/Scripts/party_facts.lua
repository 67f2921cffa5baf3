-- What stops calling a party now: whether they opted out, whether an emergency call protects them. One call (both
-- keys share the party's slot), so a batch's checks go as one run.
-- KEYS[1] the party's opt-out, KEYS[2] their emergency calls (hash: call id -> protection end, unix ms), KEYS[3] the
-- end of the no-callbacks time they asked for, if they did, KEYS[4] (when asked) their vulnerability flag (CRM's)
-- ARGV[1] now (unix ms)
-- Returns {opted out, protected, asked for no callbacks now, flagged vulnerable} as 0/1
-- Most parties have none of these: one EXISTS over all the keys answers for them.
if redis.call('EXISTS', unpack(KEYS)) == 0 then
  return {0, 0, 0, 0}
end
local optedOut = redis.call('EXISTS', KEYS[1])
local protected = 0
if redis.call('EXISTS', KEYS[2]) == 1 then
  local now = tonumber(ARGV[1])
  for _, protectedUntil in ipairs(redis.call('HVALS', KEYS[2])) do
    if tonumber(protectedUntil) > now then
      protected = 1
      break
    end
  end
end
return {optedOut, protected, redis.call('EXISTS', KEYS[3]), KEYS[4] and redis.call('EXISTS', KEYS[4]) or 0}
