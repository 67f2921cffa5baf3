-- Writes an entry to a switch's outbox once (a recovery's compensation): a marker (kept for the retention, holding the
-- entry's value for lookups) is set in the same script, so a replay or an effect carried out again after a crash never
-- writes a second one.
-- KEYS[1] the marker, KEYS[2] the switch's outbox (stream)
-- ARGV[1] how long to keep the marker (ms), ARGV[2] the value kept in the marker, ARGV[3..] the outbox entry (field, value, ...)
-- Returns 1 when written, 0 when it was written before
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[1]) then
  return 0
end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))
return 1
