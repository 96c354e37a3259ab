-- Put a dead letter back where it came from, atomically: a reply into the outbox (same
-- task id, so a repeated send shows as such in status receipts), an event into the inbox.
-- KEYS: dead, outbox, inbox, stats. ARGV: dead letter id.
-- Returns its kind ('out' or 'in'), false when there is no such entry, 'bad' when the entry
-- lacks what a retry needs (an `in` entry from before conversations were recorded).
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return false end
local f, raw = {}, found[1][2]
for j = 1, #raw, 2 do f[raw[j]] = raw[j + 1] end
if f.kind == 'out' and f.c and f.r and f.t then
  redis.call('XADD', KEYS[2], '*', 'c', f.c, 'r', f.r, 't', f.t, 's', f.s or '')
elseif f.kind == 'in' and f.c and f.e then
  redis.call('XADD', KEYS[3], '*', 'c', f.c, 'e', f.e)
else
  return 'bad'
end
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[4], 'dead_letters_retried', 1)
return f.kind
