-- Tag invalidation or clear: bump the version (never expires: a reset would revive old entries) and publish it.
-- KEYS[1] version key; ARGV[1] channel, ARGV[2] message prefix (the new version is appended);
-- ARGV[3] the highest version the caller has seen: if Redis lost the key (restart without persistence, failover, eviction)
-- the version would restart at 1, below what the nodes know, and the bump would void nothing: never go below it.
local v = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[3]) or 0
if v <= floor then
  v = floor + 1
  redis.call('SET', KEYS[1], v)
end
redis.call('PUBLISH', ARGV[1], ARGV[2] .. v)
return v
