-- Not a script of its own: the scripts that write a conversation's history (commit, status,
-- finish_send) start with it. Adds one entry (field, value, ...) to the history stream `key`:
-- at most `maxlen` entries, none older than `ttl` seconds by the clock of the entries' ids
-- (Redis's), and the whole stream gone `ttl` seconds after its last entry. A `maxlen` of 0:
-- history is off, nothing is written.
local function keep_history(key, maxlen, ttl, ...)
  maxlen = tonumber(maxlen)
  if maxlen == 0 then return end
  local id = redis.call('XADD', key, 'MAXLEN', maxlen, '*', ...)
  local ms = tonumber(string.match(id, '^(%d+)'))
  redis.call('XTRIM', key, 'MINID', ms - tonumber(ttl) * 1000)
  redis.call('EXPIRE', key, ttl)
end
