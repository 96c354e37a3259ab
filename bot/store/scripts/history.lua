-- Not a script of its own: the scripts that write a conversation's history (commit, status,
-- finish_send) start with it. Appends one entry (`payload`, made in Python) to the history
-- list `key` as `ID|payload`, its ID `MS-SEQ` by Redis's clock: at most `maxlen` entries,
-- none older than `ttl` seconds, and the whole list gone `ttl` seconds after its last entry.
-- A list, not a stream: a small stream costs some 4 KB, a small list what its entries hold.
-- A `maxlen` of 0, or no payload: nothing is written.
local function keep_history(key, maxlen, ttl, payload)
  maxlen = tonumber(maxlen)
  if maxlen == 0 or payload == '' then return end
  ttl = tonumber(ttl)
  local t = redis.call('TIME')
  local us = tonumber(t[2])
  local ms = t[1] .. string.format('%03d', math.floor(us / 1000))
  redis.call('RPUSH', key, ms .. '-' .. (us % 1000) .. '|' .. payload)
  redis.call('LTRIM', key, -maxlen, -1)
  local cutoff = (tonumber(t[1]) - ttl) * 1000
  while true do
    local head = redis.call('LINDEX', key, 0)
    if not head or tonumber(string.match(head, '^(%d+)')) >= cutoff then break end
    redis.call('LPOP', key)
  end
  redis.call('EXPIRE', key, ttl)
end
