-- A due timer fires once: removed from the set and enqueued as an event, atomically.
-- KEYS: timers, inbox. ARGV: member, conv, event.
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  return redis.call('XADD', KEYS[2], '*', 'c', ARGV[2], 'e', ARGV[3])
end
return false
