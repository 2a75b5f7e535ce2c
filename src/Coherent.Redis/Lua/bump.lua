-- Tag invalidation or clear: bump the version (never expires: a reset would revive old entries) and publish it.
-- KEYS[1] version key; ARGV[1] channel, ARGV[2] message prefix (the new version is appended); ARGV[4] time floor;
-- ARGV[3] the highest version the caller has seen: if Redis lost the key (restart without persistence, failover, eviction)
-- the version would restart at 1, below what the nodes know, and the bump would void nothing: never go below it.
-- Versions stay integers that Lua's doubles count exactly (at most 2^53 - 1). A stored value that is not one (written by
-- something else: text, a float, 2^60) or a floor that is not one is ignored, so the bump repairs the key instead of
-- failing forever (INCR on text) or storing a float (2^60 + 1 as a double prints as 1.15e+18).
local max = 9007199254740991
local v = redis.pcall('INCR', KEYS[1])
local repair = type(v) ~= 'number' or v > max
if repair then v = 0 end
-- A version key that was missing (1: never bumped, or lost with Redis's memory, or evicted) restarts at the time floor
-- (ARGV[4], Unix ms x 1000), above any version issued before: a node that never saw the tag cannot bump it to a
-- version below what entries in L2 carry, and void nothing.
local fresh = tonumber(ARGV[4])
if (v == 0 or v == 1) and fresh ~= nil and fresh > 1 and fresh < max then
  v = fresh
  repair = true
end
local floor = tonumber(ARGV[3])
if floor == nil or floor < 0 or floor >= max or floor ~= math.floor(floor) then floor = 0 end
if v <= floor then
  v = floor + 1
  repair = true
end
local text = string.format('%d', v)
if repair then redis.call('SET', KEYS[1], text) end
redis.call('PUBLISH', ARGV[1], ARGV[2] .. text)
return v
