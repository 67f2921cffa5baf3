-- Reads the decision recorded for a report, if any: a script rather than HGET so a batch's reads go as one run
-- instead of one command each. Read only: runs when Redis is full, as HGET does.
-- KEYS[1] the call's decisions (hash: event id -> decision JSON); ARGV[1] the report's event id
-- Returns the decision's JSON, or false when none is recorded
return redis.call('HGET', KEYS[1], ARGV[1])
