-- Fenced fill: store only if the epoch is unchanged since the miss; release the lease; announce the fill.
-- KEYS[1] data (or pointer), KEYS[2] epoch, KEYS[3] lease
-- ARGV[1] expected epoch, ARGV[2] envelope, ARGV[3] ttl ms, ARGV[4] lease token or '', ARGV[5] channel,
-- ARGV[6] fill message, ARGV[7] version key base or '' (plain keys)
-- A missing epoch never matches: every epoch a fill fences on was read or created (epoch.lua), so "missing" now means
-- Redis lost it since, and the invalidations that bumped it with it.
local raw = redis.call('GET', KEYS[2])
local ok = 0
if raw and tonumber(raw) == tonumber(ARGV[1]) then
  if ARGV[7] == '' then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  else
    redis.call('SET', ARGV[7] .. raw, ARGV[2], 'PX', ARGV[3])
    redis.call('SET', KEYS[1], raw, 'PX', ARGV[3])
  end
  ok = 1
end
if ARGV[4] ~= '' and redis.call('GET', KEYS[3]) == ARGV[4] then
  redis.call('DEL', KEYS[3])
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return ok
