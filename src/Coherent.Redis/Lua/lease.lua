-- Leases, for one key or a bulk call's batch: SET NX PX with a token for each key; returns {taken, epoch} for each key in
-- order ({1 if taken else 0, current epoch, ...}). A missing epoch is created at the floor (see epoch.lua: a fill never
-- fences on "missing").
-- KEYS: for key i, KEYS[2i-1] lease, KEYS[2i] epoch
-- ARGV[1] lease ms, ARGV[2] epoch floor, ARGV[3] epoch retention ms, ARGV[3+i] key i's token
local out = {}
for i = 1, #KEYS / 2 do
  local ok = redis.call('SET', KEYS[2 * i - 1], ARGV[3 + i], 'NX', 'PX', ARGV[1])
  local taken = 0
  if ok then taken = 1 end
  local e = redis.call('GET', KEYS[2 * i])
  if not e then
    e = ARGV[2]
    redis.call('SET', KEYS[2 * i], e, 'PX', ARGV[3])
  end
  out[2 * i - 1] = taken
  out[2 * i] = e
end
return out
