-- A recipient erased from a campaign (its conversation erased, as a customer may ask): off
-- the queue, its data and status gone; one still pending is counted erased instead.
-- KEYS: queue, recipients, statuses, counts. ARGV: conversation.
-- Returns 1 when the campaign held the recipient, else 0.
local queued = redis.call('ZREM', KEYS[1], ARGV[1])
if queued == 1 then
  redis.call('HINCRBY', KEYS[4], 'pending', -1)
  redis.call('HINCRBY', KEYS[4], 'erased', 1)
end
local held = redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if held == 1 or queued == 1 then return 1 end
return 0
