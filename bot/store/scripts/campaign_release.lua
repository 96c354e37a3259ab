-- A campaign recipient's turn: either skipped (forced by the caller: expired; or opted out,
-- in a flow with the mid-flow policy `skip`, stepped since the cut-off), put off (stepped
-- less than the minimum gap ago: WhatsApp's pair rate), or started: the campaign's intent
-- goes into the partition's inbox as any trigger does, deduplicated by its message id. The
-- recipient leaves the queue, and its status and the campaign's counts change, in the same
-- go, so a recipient is started once, or skipped once, whatever crashes or repeats.
-- A start is counted in its minute too (the campaign's progress over time).
-- KEYS: lease, queue, statuses, counts, conv, opt-out, seen, inbox, conversations (index),
--       timeline.
-- ARGV: token, conversation, event, dedup ttl, mid-flow policy, recent cut-off ms (0: none),
--       forced skip ('' for none), the minute (ms since the epoch // 60000), minimum gap ms
--       (0: none), now ms, the campaign's category (`marketing`: not to customers who
--       opted out of marketing).
-- Returns 'lease' (not the partition's owner), 'gone' (not queued: done before), 'later'
-- (put off: queued again for when the gap is over), else the recipient's status:
-- 'started' or 'skipped:REASON'.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'lease' end
if not redis.call('ZSCORE', KEYS[2], ARGV[2]) then return 'gone' end
local stepped = tonumber(redis.call('ZSCORE', KEYS[9], ARGV[2]) or '0')
-- The opt-out key stands for a conversation gone (forgotten or erased: `1` STOP, `m` STOP
-- MARKETING, `1m` both); while there is one, its flags hold.
local kept = opt_out_of(KEYS[5]) or redis.call('GET', KEYS[6]) or ''
local everything, marketing = string.sub(kept, 1, 1) == '1', string.sub(kept, -1) == 'm'
local status = 'started'
if ARGV[7] ~= '' then
  status = 'skipped:' .. ARGV[7]
elseif everything then
  status = 'skipped:opted_out'
elseif marketing and ARGV[11] == 'marketing' then
  status = 'skipped:opted_out_marketing'
elseif ARGV[5] == 'skip' and redis.call('HGET', KEYS[5], 'a') == '1' then
  status = 'skipped:mid_flow'
elseif ARGV[6] ~= '0' and stepped >= tonumber(ARGV[6]) then
  status = 'skipped:recent'
elseif stepped > 0 and stepped + tonumber(ARGV[9]) > tonumber(ARGV[10]) then
  redis.call('ZADD', KEYS[2], string.format('%.0f', stepped + tonumber(ARGV[9])), ARGV[2])
  return 'later'
end
redis.call('ZREM', KEYS[2], ARGV[2])
if status == 'started' and redis.call('EXISTS', KEYS[7]) == 0 then
  local id = redis.call('XADD', KEYS[8], '*', 'c', ARGV[2], 'e', ARGV[3])
  redis.call('SET', KEYS[7], id, 'EX', ARGV[4])
end
if status == 'started' then redis.call('HINCRBY', KEYS[10], ARGV[8], 1) end
redis.call('HSET', KEYS[3], ARGV[2], status)
redis.call('HINCRBY', KEYS[4], 'pending', -1)
redis.call('HINCRBY', KEYS[4], status, 1)
-- The statuses expire with the counts (campaign_add set when).
local ttl = redis.call('PTTL', KEYS[4])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[3], ttl)
  if status == 'started' then redis.call('PEXPIRE', KEYS[10], ttl) end
end
return status
