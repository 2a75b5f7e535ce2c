-- Read: the envelope (or false) and the key's current epoch, in one round trip.
-- KEYS[1] data, KEYS[2] epoch
return {redis.call('GET', KEYS[1]) or false, redis.call('GET', KEYS[2]) or false}
