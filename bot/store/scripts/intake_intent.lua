-- A business trigger is enqueued unless the customer opted out, or (policy `reject`) is in
-- a flow: checked atomically with the enqueueing, against what the last commit stored. A
-- repeat is answered as such first: a retried trigger that was accepted (and started the
-- flow that now makes the customer busy) must not look refused.
-- An erased conversation's opt-out (its own key) counts as the conversation's while there
-- is no conversation.
-- KEYS: seen, inbox, conv, stats, opt-out. ARGV: conv, event, dedup ttl, policy.
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[4], 'duplicates_dropped', 1)
  return 'repeat'
end
-- The opt-out key stands for a conversation erased since: once the customer writes again,
-- their conversation's own flag (START, say) is what holds.
local opted = redis.call('HGET', KEYS[3], 'o')
if opted == false then opted = redis.call('GET', KEYS[5]) end
if opted == '1' or opted == '1m' then return 'opted_out' end
if ARGV[4] == 'reject' and redis.call('HGET', KEYS[3], 'a') == '1' then return 'busy' end
local id = redis.call('XADD', KEYS[2], '*', 'c', ARGV[1], 'e', ARGV[2])
redis.call('SET', KEYS[1], id, 'EX', ARGV[3])
return 'new'
