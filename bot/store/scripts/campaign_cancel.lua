-- A campaign cancelled, in one partition: the recipients still queued are counted
-- cancelled, and the queue goes.
-- KEYS: queue, counts. Returns how many were cancelled.
local n = redis.call('ZCARD', KEYS[1])
if n > 0 then
  redis.call('DEL', KEYS[1])
  redis.call('HINCRBY', KEYS[2], 'pending', -n)
  redis.call('HINCRBY', KEYS[2], 'cancelled', n)
end
return n
