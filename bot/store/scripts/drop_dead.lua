-- Delete dead letters, counted. KEYS: dead, stats. ARGV: dead letter ids (at most
-- DROP_BATCH). Returns how many there were.
local n = redis.call('XDEL', KEYS[1], unpack(ARGV))
if n > 0 then redis.call('HINCRBY', KEYS[2], 'dead_letters_dropped', n) end
return n
