-- A call is done: enqueue its outcome (unless its dedup key was seen) and ack it, at once.
-- One script rather than MULTI: inside MULTI a NOSCRIPT error (Redis restarted) fails the
-- enqueueing alone while the ack goes through, and the outcome would be lost.
-- KEYS: calls, inbox[, seen]. ARGV: entry id[, conv, event, dedup ttl]
if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 0 then
  local id = redis.call('XADD', KEYS[2], '*', 'c', ARGV[2], 'e', ARGV[3])
  redis.call('SET', KEYS[3], id, 'EX', ARGV[4])
end
redis.call('XACK', KEYS[1], 'c', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
