-- Fenced fills, for one key or a bulk call's batch: store each only if its epoch is unchanged since the miss; release its
-- lease; announce its fill. Returns one flag for each key in order: 1 stored, 0 fenced out.
-- KEYS: for key i, KEYS[3i-2] data (or pointer), KEYS[3i-1] epoch, KEYS[3i] lease
-- ARGV[1] channel; for key i, from j = 1 + 6(i-1): ARGV[j+1] expected epoch, ARGV[j+2] envelope, ARGV[j+3] ttl ms,
-- ARGV[j+4] lease token or '', ARGV[j+5] fill message, ARGV[j+6] version key base or '' (plain keys)
-- A missing epoch never matches: every epoch a fill fences on was read or created (epoch.lua), so "missing" now means
-- Redis lost it since, and the invalidations that bumped it with it.
local out = {}
for i = 1, #KEYS / 3 do
  local k = 3 * (i - 1)
  local j = 1 + 6 * (i - 1)
  local raw = redis.call('GET', KEYS[k + 2])
  local ok = 0
  if raw and tonumber(raw) == tonumber(ARGV[j + 1]) then
    if ARGV[j + 6] == '' then
      redis.call('SET', KEYS[k + 1], ARGV[j + 2], 'PX', ARGV[j + 3])
    else
      redis.call('SET', ARGV[j + 6] .. raw, ARGV[j + 2], 'PX', ARGV[j + 3])
      redis.call('SET', KEYS[k + 1], raw, 'PX', ARGV[j + 3])
    end
    ok = 1
  end
  if ARGV[j + 4] ~= '' and redis.call('GET', KEYS[k + 3]) == ARGV[j + 4] then
    redis.call('DEL', KEYS[k + 3])
  end
  redis.call('PUBLISH', ARGV[1], ARGV[j + 5])
  out[i] = ok
end
return out
