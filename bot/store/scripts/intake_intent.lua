-- A business trigger is enqueued unless the customer opted out, or (policy `reject`) is in
-- a flow: checked atomically with the enqueueing, against what the last commit stored. A
-- repeat is answered as such first: a retried trigger that was accepted (and started the
-- flow that now makes the customer busy) must not look refused.
-- An erased conversation's opt-out (its own key) counts as the conversation's.
-- KEYS: seen, inbox, conv, stats, opt-out. ARGV: conv, event, dedup ttl, policy.
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[4], 'duplicates_dropped', 1)
  return 'repeat'
end
if redis.call('HGET', KEYS[3], 'o') == '1' or redis.call('EXISTS', KEYS[5]) == 1 then
  return 'opted_out'
end
if ARGV[4] == 'reject' and redis.call('HGET', KEYS[3], 'a') == '1' then return 'busy' end
local id = redis.call('XADD', KEYS[2], '*', 'c', ARGV[1], 'e', ARGV[2])
redis.call('SET', KEYS[1], id, 'EX', ARGV[3])
return 'new'
