-- Write-through: bump the epoch (voiding fills in flight), store the new value, publish, in one step.
-- KEYS[1] data (or pointer), KEYS[2] epoch, KEYS[3] lease
-- ARGV[1] envelope, ARGV[2] ttl ms, ARGV[3] channel, ARGV[4] message, ARGV[5] epoch retention ms,
-- ARGV[6] version key base or '', ARGV[7] old version grace ms, ARGV[8] epoch floor (Unix ms x 1000)
local e = redis.pcall('INCR', KEYS[2])
if type(e) ~= 'number' or e <= 1 or e > 9007199254740991 then
  -- The epoch was missing (1: Redis lost it, or it was never read) or is not an integer Lua counts exactly (written by
  -- something else): restart it at the floor (the time, Unix ms x 1000), above any epoch issued before, so no fence taken
  -- before the loss or the damage can match it again.
  e = tonumber(ARGV[8])
  redis.call('SET', KEYS[2], string.format('%d', e))
end
redis.call('PEXPIRE', KEYS[2], ARGV[5])
if ARGV[6] == '' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  local old = redis.call('GET', KEYS[1])
  if old then redis.call('PEXPIRE', ARGV[6] .. old, ARGV[7]) end
  -- As text with every digit: Lua would print a large epoch as 1.7e+15 in a key name.
  local version = string.format('%d', e)
  redis.call('SET', ARGV[6] .. version, ARGV[1], 'PX', ARGV[2])
  redis.call('SET', KEYS[1], version, 'PX', ARGV[2])
end
redis.call('DEL', KEYS[3])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return e
