-- Versioned read: follow the pointer to the current version's data.
-- KEYS[1] pointer, KEYS[2] epoch; ARGV[1] version key base (same hash tag as the pointer)
local p = redis.call('GET', KEYS[1])
local d = false
if p then d = redis.call('GET', ARGV[1] .. p) end
return {d or false, redis.call('GET', KEYS[2]) or false}
