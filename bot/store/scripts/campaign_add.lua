-- Store a batch of a campaign's recipients of one partition: each recipient once (a batch
-- sent again after a failure adds only what is not there), queued for its first due time,
-- and counted pending.
-- Every key of the campaign goes when the campaign's data expires. The partition's index of
-- due campaigns comes down to the earliest of those added, if that is earlier.
-- KEYS: recipients (hash), queue (zset), counts (hash), the partition's due campaigns.
-- ARGV: expiry (ms since the epoch), n, then (conversation, recipient, due ms) x n, the
--       campaign.
-- Returns the recipients added.
local added, first = 0, nil
local n = tonumber(ARGV[2])
for j = 0, n - 1 do
  local b = 3 + j * 3
  if redis.call('HSETNX', KEYS[1], ARGV[b], ARGV[b + 1]) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[b + 2], ARGV[b])
    added = added + 1
    local due = tonumber(ARGV[b + 2])
    if first == nil or due < first then first = due end
  end
end
if added > 0 then
  redis.call('HINCRBY', KEYS[3], 'pending', added)
  redis.call('ZADD', KEYS[4], 'LT', string.format('%.0f', first), ARGV[3 + n * 3])
end
for i = 1, 3 do redis.call('PEXPIREAT', KEYS[i], ARGV[1]) end
return added
