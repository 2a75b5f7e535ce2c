-- Lease: SET NX PX with a token; returns {1 if taken else 0, current epoch}. A missing epoch is created at the floor
-- (see epoch.lua: a fill never fences on "missing").
-- KEYS[1] lease, KEYS[2] epoch; ARGV[1] token, ARGV[2] lease ms, ARGV[3] epoch floor, ARGV[4] epoch retention ms
local ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
local taken = 0
if ok then taken = 1 end
local e = redis.call('GET', KEYS[2])
if not e then
  e = ARGV[3]
  redis.call('SET', KEYS[2], e, 'PX', ARGV[4])
end
return {taken, e}
