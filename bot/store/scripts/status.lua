-- Delivery status of a sent message, never going back: a late Delivered never overwrites
-- Read; Failed is final. A Failed message of a known conversation also becomes an event in
-- its inbox, so a flow can move on (`on_failed:`).
-- KEYS: message record, inbox. ARGV: rank, status, at, mid, error, ttl, task id
local rank = tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'rank') or '0')
if rank <= cur then return 0 end
redis.call('HSET', KEYS[1], 'rank', rank, 'status', ARGV[2], 'at', ARGV[3], 'mid', ARGV[4],
  'status_err', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
if rank == 4 then
  local conv = redis.call('HGET', KEYS[1], 'conv')
  local visit = redis.call('HGET', KEYS[1], 'visit')
  if conv and visit then
    local event = cjson.encode({t = 'failed', message_id = 'status:' .. ARGV[7],
      at_ms = tonumber(ARGV[3]), task_id = ARGV[7], error = ARGV[5], visit = tonumber(visit)})
    redis.call('XADD', KEYS[2], '*', 'c', conv, 'e', event)
  end
end
return 1
