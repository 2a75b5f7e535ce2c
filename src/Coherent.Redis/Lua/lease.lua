-- Lease: SET NX PX with a token; returns {1 if taken else 0, current epoch}.
-- KEYS[1] lease, KEYS[2] epoch; ARGV[1] token, ARGV[2] lease ms
local ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
local taken = 0
if ok then taken = 1 end
return {taken, redis.call('GET', KEYS[2]) or false}
