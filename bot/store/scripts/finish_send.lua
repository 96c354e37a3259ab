-- A drained outbox entry is done: ack it and record what became of it (the message record,
-- the partition's counters, a dead letter, a SendFailed event), all at once. A script
-- rather than MULTI so that it can share a pipeline with other commands (coalesce.py).
-- A reply sent, or failed for good, is an entry of its conversation's history too.
-- A campaign's first message is counted in the campaign too: sent, or failed by reason; its
-- record names the campaign (its delivery statuses count there too: status.lua).
-- A reply of the campaigns' outbox done, its conversation has one fewer there (`cq`, which
-- the commit script counts up: while above 0, the conversation's replies queue behind).
-- KEYS: outbox, stats, dead, inbox, message record, history, the campaign's counts (of the
--       partition; untouched for a reply of no campaign), the conversation,
--       the campaigns' outbox.
-- ARGV: entry id, retries, outcome ('dead', 'sent', 'permanent' or ''), error, conv, reply,
--       task, space, failed event ('' for none), message id, visit, ttl,
--       history length (0: none), history ttl, the send's history entry ('' for none),
--       the failure's reason (a counter's name, 'failed:CODE'; '' when sent), the campaign
--       ('' for none)
redis.call('XACK', KEYS[1], 's', ARGV[1])
-- Finished already: a caller whose answer was lost (Redis restarted under it) asks again;
-- nothing is counted or recorded twice.
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
if KEYS[1] == KEYS[9] then
  if tonumber(redis.call('HINCRBY', KEYS[8], 'cq', -1)) <= 0 then
    redis.call('HDEL', KEYS[8], 'cq')
  end
end
if ARGV[2] ~= '0' then redis.call('HINCRBY', KEYS[2], 'send_retries', ARGV[2]) end
if ARGV[3] == 'dead' then
  redis.call('HINCRBY', KEYS[2], 'dead_letters_out', 1)
  redis.call('XADD', KEYS[3], '*', 'kind', 'out', 'why', ARGV[4], 'c', ARGV[5], 'r', ARGV[6],
    't', ARGV[7], 's', ARGV[8])
elseif ARGV[3] == 'sent' then
  redis.call('HINCRBY', KEYS[2], 'sends', 1)
elseif ARGV[3] == 'permanent' then
  redis.call('HINCRBY', KEYS[2], 'send_failures_permanent', 1)
end
if ARGV[16] ~= '' and (ARGV[3] == 'dead' or ARGV[3] == 'permanent') then
  redis.call('HINCRBY', KEYS[2], ARGV[16], 1)
end
-- Counted while the campaign's counts are kept: a first message sent long after (queued
-- behind a flow, a dead letter retried) never makes them again, without an expiry.
if ARGV[17] ~= '' and redis.call('EXISTS', KEYS[7]) == 1 then
  if ARGV[3] == 'sent' then
    redis.call('HINCRBY', KEYS[7], 'sent', 1)
  elseif ARGV[3] == 'dead' or ARGV[3] == 'permanent' then
    redis.call('HINCRBY', KEYS[7], ARGV[16], 1)
  end
end
if ARGV[9] ~= '' then redis.call('XADD', KEYS[4], '*', 'c', ARGV[5], 'e', ARGV[9]) end
redis.call('HSET', KEYS[5], 'conv', ARGV[5], 'mid', ARGV[10], 'err', ARGV[4], 'visit', ARGV[11])
if ARGV[17] ~= '' then redis.call('HSET', KEYS[5], 'camp', ARGV[17]) end
redis.call('EXPIRE', KEYS[5], ARGV[12])
keep_history(KEYS[6], ARGV[13], ARGV[14], ARGV[15])
return 1
