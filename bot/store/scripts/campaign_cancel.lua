-- A campaign cancelled, in one partition: the recipients still queued are counted
-- cancelled, and the queue goes, and so does the campaign's place in the partition's index
-- of due campaigns.
-- KEYS: queue, counts, the partition's due campaigns. ARGV: the campaign.
-- Returns how many were cancelled.
local n = redis.call('ZCARD', KEYS[1])
if n > 0 then
  redis.call('DEL', KEYS[1])
  redis.call('HINCRBY', KEYS[2], 'pending', -n)
  redis.call('HINCRBY', KEYS[2], 'cancelled', n)
end
redis.call('ZREM', KEYS[3], ARGV[1])
return n
