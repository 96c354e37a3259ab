-- Once per deployment, for what an earlier version stored (Steps.keep_opt_outs): with a
-- conversation hash and its opt-out key, the key set to what the hash says (none: the key
-- deleted), kept the opt-out's ttl from now; with an opt-out key alone (an erasure's, kept
-- for a shorter time then), its ttl raised to the opt-out's. In one script with the read,
-- so that no step falls between them (a step keeps the two equal from then on).
-- KEYS: the conversation hash and its opt-out key, or an opt-out key. ARGV: the ttl.
-- Returns 1 when it set a conversation's key, else 0.
local ttl = tonumber(ARGV[1])
if #KEYS == 2 then
  if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end
  local kept = opt_out_of(KEYS[1])
  if not kept then return 0 end
  if kept == '' then
    redis.call('DEL', KEYS[2])
    return 0
  end
  redis.call('SET', KEYS[2], kept, 'EX', ttl)
  return 1
end
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return 0 end
local left = redis.call('TTL', KEYS[1])
if left >= 0 and left < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
return 0
