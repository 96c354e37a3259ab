-- Delivery status of a sent message, never going back: a late Delivered never overwrites
-- Read; Failed is final. A Failed message whose record names its conversation and visit
-- (a message the sender recorded) also becomes an event in that conversation's inbox, so a
-- flow can move on (`on_failed:`). The event is made by the caller: when the caller's
-- conversation and visit are not the record's (the first call names none), this script
-- writes nothing and returns the record's, for the caller to make the event and call again.
-- A status recorded is an entry of the history of the receipt's conversation too, when the
-- message is one the sender recorded for that conversation.
-- KEYS: message record, inbox, history. ARGV: rank, status, at, mid, error, ttl, conv, visit,
-- event, history length (0: none), history ttl, the status's history entry, the receipt's
-- conversation
-- Returns 0 (not newer: nothing recorded), 1 (recorded), or {conv, visit}.
local rank = tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'rank') or '0')
if rank <= cur then return 0 end
local failed = false
if rank == 4 then
  local rec = redis.call('HMGET', KEYS[1], 'conv', 'visit')
  if rec[1] and rec[2] then
    if ARGV[9] == '' or rec[1] ~= ARGV[7] or rec[2] ~= ARGV[8] then return rec end
    failed = true
  end
end
redis.call('HSET', KEYS[1], 'rank', rank, 'status', ARGV[2], 'at', ARGV[3], 'mid', ARGV[4],
  'status_err', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
if failed then redis.call('XADD', KEYS[2], '*', 'c', ARGV[7], 'e', ARGV[9]) end
if redis.call('HGET', KEYS[1], 'conv') == ARGV[13] then
  keep_history(KEYS[3], ARGV[10], ARGV[11], ARGV[12])
end
return 1
