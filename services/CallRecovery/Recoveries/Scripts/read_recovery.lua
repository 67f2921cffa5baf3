-- Reads a recovery as stored: a script rather than HGETALL so a batch's reads (the decision stage's, a dispatch
-- round's) go as one run instead of one command each. Read only: runs when Redis is full, as HGETALL does.
-- KEYS[1] the recovery hash
-- Returns its fields and values (field, value, ...); an empty list when there is none
return redis.call('HGETALL', KEYS[1])
