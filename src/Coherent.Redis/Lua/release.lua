-- Release a lease without storing (the factory failed): compare-and-delete, then wake the waiters.
-- KEYS[1] lease; ARGV[1] token, ARGV[2] channel, ARGV[3] fill message
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
