-- Tag invalidation or clear: bump the version (never expires: a reset would revive old entries) and publish it.
-- KEYS[1] version key; ARGV[1] channel, ARGV[2] message prefix (the new version is appended)
local v = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2] .. v)
return v
