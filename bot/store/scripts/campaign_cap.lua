-- WhatsApp's cap of unique recipients a business number messages in any 24 hours: claim a
-- place for each recipient in turn (one already messaged within the window has one), while
-- there is room. Members are one-way hashes of the conversations: no customer's number.
-- KEYS: the number's log (zset: member -> when first messaged in the window).
-- ARGV: now ms, window ms, cap, members...
-- Returns, for each member in order: 0 (it may be messaged) or when a place frees (ms).
local now, window, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
local held = redis.call('ZCARD', KEYS[1])
local out = {}
for i = 4, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    out[#out + 1] = 0
  elseif held < cap then
    redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[i])
    held = held + 1
    out[#out + 1] = 0
  else
    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    out[#out + 1] = tonumber(first[2]) + window
  end
end
redis.call('PEXPIRE', KEYS[1], window)
return out
