-- Versioned read: follow the pointer to the current version's data; a missing epoch is created at the floor (epoch.lua).
-- KEYS[1] pointer, KEYS[2] epoch; ARGV[1] version key base (same hash tag as the pointer), ARGV[2] epoch floor,
-- ARGV[3] epoch retention ms
local p = redis.call('GET', KEYS[1])
local d = false
if p then d = redis.call('GET', ARGV[1] .. p) end
local e = redis.call('GET', KEYS[2])
if not e then
  e = ARGV[2]
  redis.call('SET', KEYS[2], e, 'PX', ARGV[3])
end
return {d or false, e}
