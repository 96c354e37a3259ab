-- A conversation's events waiting in its partition's inbox, for its erasure: read-only, the
-- inbox walked in Redis so that only the conversation's own entries leave it.
-- KEYS: inbox. ARGV: conv.
-- Returns {id, event, id, event, ...}, oldest first.
local found = {}
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local fields = entry[2]
  local conv, event = nil, nil
  for f = 1, #fields, 2 do
    if fields[f] == 'c' then conv = fields[f + 1] elseif fields[f] == 'e' then event = fields[f + 1] end
  end
  if conv == ARGV[1] then
    found[#found + 1] = entry[1]
    found[#found + 1] = event or ''
  end
end
return found
