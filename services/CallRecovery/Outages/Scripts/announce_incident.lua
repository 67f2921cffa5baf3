-- Marks an open incident announced: what follows its declaration is done, so it is not declared again.
-- KEYS[1] the scope's open incident; ARGV[1] the incident id (nothing happens if another incident is open now, or none)
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'announced', '1')
end
return 1
