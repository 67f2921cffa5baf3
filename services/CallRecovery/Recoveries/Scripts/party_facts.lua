-- What stops calling a party now: whether they opted out, whether they are under emergency protection. One call
-- (both keys share the party's slot) rather than two EXISTS, so the dispatch of a window's commands goes as one run.
-- KEYS[1] the party's opt-out, KEYS[2] their emergency protection
-- Returns {opted out, protected} as 0/1: one EXISTS for both, which one only when one holds.
if redis.call('EXISTS', KEYS[1], KEYS[2]) == 0 then
  return {0, 0}
end
return {redis.call('EXISTS', KEYS[1]), redis.call('EXISTS', KEYS[2])}
