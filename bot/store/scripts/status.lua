-- Delivery status of a sent message, never going back: a late Delivered never overwrites
-- Read; Failed is final. A Failed message whose record names its conversation and visit
-- (a message the sender recorded) also becomes an event in that conversation's inbox, so a
-- flow can move on (`on_failed:`). The event is made by the caller: when the caller's
-- conversation and visit are not the record's (the first call names none), this script
-- writes nothing and returns the record's, for the caller to make the event and call again.
-- A status recorded is an entry of the history of the receipt's conversation too, when the
-- message is one the sender recorded for that conversation.
-- A campaign's first message (its record names the campaign) counts in the campaign's counts
-- of the partition: `delivered` (once, Read without Delivered included), `read`, and a
-- Failed by its reason; the caller must name that campaign, and its counts as KEYS[4], as
-- for a Failed: a first call that does not is answered {conv, visit, campaign}.
-- KEYS: message record, inbox, history, the campaign's counts. ARGV: rank, status, at, mid,
-- error, ttl, conv, visit, event, history length (0: none), history ttl, the status's
-- history entry, the receipt's conversation, the campaign, a Failed's counter
-- (`failed:CODE`).
-- Returns 0 (not newer: nothing recorded), 1 (recorded), or {conv, visit, campaign}.
local rank = tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'rank') or '0')
if rank <= cur then return 0 end
local rec = redis.call('HMGET', KEYS[1], 'conv', 'visit', 'camp')
local camp = rec[3] or ''
local function again() return {rec[1] or '', rec[2] or '', camp} end
if camp ~= ARGV[14] then return again() end
local failed = false
if rank == 4 and rec[1] and rec[2] then
  if ARGV[9] == '' or rec[1] ~= ARGV[7] or rec[2] ~= ARGV[8] then return again() end
  failed = true
end
redis.call('HSET', KEYS[1], 'rank', rank, 'status', ARGV[2], 'at', ARGV[3], 'mid', ARGV[4],
  'status_err', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
if failed then redis.call('XADD', KEYS[2], '*', 'c', ARGV[7], 'e', ARGV[9]) end
if redis.call('HGET', KEYS[1], 'conv') == ARGV[13] then
  keep_history(KEYS[3], ARGV[10], ARGV[11], ARGV[12])
end
if camp ~= '' and redis.call('EXISTS', KEYS[4]) == 1 then
  if rank == 4 then
    redis.call('HINCRBY', KEYS[4], ARGV[15], 1)
  else
    if rank >= 2 and cur < 2 then redis.call('HINCRBY', KEYS[4], 'delivered', 1) end
    if rank == 3 then redis.call('HINCRBY', KEYS[4], 'read', 1) end
  end
end
return 1
