-- Gives back a window place reserved for a call that did not become this subscriber's recovery
-- (the other party was blocked, or another report of the call made someone else the callback party).
-- KEYS[1] the subscriber's recoveries sorted set; ARGV[1] call id
return redis.call('ZREM', KEYS[1], ARGV[1])
