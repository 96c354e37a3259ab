-- A campaign's status changes only from one of the statuses allowed.
-- KEYS: the campaign, the set of active campaigns. ARGV: new status, active ('1' or '0'),
-- then the statuses it may change from.
-- Returns the status before ('' when there is no such campaign), changed or not.
local now = redis.call('HGET', KEYS[1], 'status')
if not now then return '' end
for i = 3, #ARGV do
  if ARGV[i] == now then
    redis.call('HSET', KEYS[1], 'status', ARGV[1])
    local id = redis.call('HGET', KEYS[1], 'id')
    if ARGV[2] == '1' then redis.call('SADD', KEYS[2], id) else redis.call('SREM', KEYS[2], id) end
    return now
  end
end
return now
