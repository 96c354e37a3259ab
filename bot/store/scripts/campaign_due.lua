-- Put a campaign's place in its partition's index of due campaigns right: the time of the
-- first recipient queued, or out of the index when none is. One script, so that a batch
-- stored meanwhile (which only ever lowers the place) is never overtaken.
-- KEYS: the campaign's queue, the partition's due campaigns. ARGV: the campaign.
-- Returns the time now in the index (ms), or -1 when the campaign left it.
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return -1
end
redis.call('ZADD', KEYS[2], first[2], ARGV[1])
return tonumber(first[2])
