-- Intake: enqueue an event unless its id was seen. XADD before SET: if anything failed
-- between the two, a repeat would be processed twice rather than an event lost.
-- KEYS: seen, inbox, stats. ARGV: conv, event, dedup ttl.
-- Returns the new entry's id, or false for a repeat.
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[3], 'duplicates_dropped', 1)
  return false
end
local id = redis.call('XADD', KEYS[2], '*', 'c', ARGV[1], 'e', ARGV[2])
redis.call('SET', KEYS[1], id, 'EX', ARGV[3])
return id
