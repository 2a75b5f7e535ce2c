-- A miss's epoch, made to exist: a missing epoch key is created at the caller's floor (the time, in Unix ms x 1000), so
-- a fill never fences on "missing" — after Redis loses the key, "missing" again would match it (the ABA of a fill that
-- read no epoch, an invalidation bumping it, the data lost). Returns the epoch.
-- KEYS[1] epoch; ARGV[1] floor, ARGV[2] epoch retention ms
local e = redis.call('GET', KEYS[1])
if not e then
  e = ARGV[1]
  redis.call('SET', KEYS[1], e, 'PX', ARGV[2])
end
return e
