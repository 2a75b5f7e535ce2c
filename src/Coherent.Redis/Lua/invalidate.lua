-- Invalidate: delete the entry, bump the epoch (voiding leases and fills in flight), publish, in one step.
-- KEYS[1] data (or pointer), KEYS[2] epoch, KEYS[3] lease
-- ARGV[1] epoch retention ms, ARGV[2] channel, ARGV[3] message, ARGV[4] version key base or '', ARGV[5] old version grace ms,
-- ARGV[6] epoch floor (Unix ms x 1000)
local e = redis.pcall('INCR', KEYS[2])
if type(e) ~= 'number' or e <= 1 or e > 9007199254740991 then
  -- The epoch was missing (1: Redis lost it, or it was never read) or is not an integer Lua counts exactly (written by
  -- something else): restart it at the floor (the time, Unix ms x 1000), above any epoch issued before, so no fence taken
  -- before the loss or the damage can match it again.
  e = tonumber(ARGV[6])
  redis.call('SET', KEYS[2], string.format('%d', e))
end
redis.call('PEXPIRE', KEYS[2], ARGV[1])
if ARGV[4] ~= '' then
  local old = redis.call('GET', KEYS[1])
  if old then redis.call('PEXPIRE', ARGV[4] .. old, ARGV[5]) end
end
redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[3])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return e
