-- Once per deployment, for the conversations stored before the opt-out key was written with
-- each change: a conversation's opt-outs written to its opt-out key, unless the key is
-- there (a step wrote it since). In one script with the read, so that no step's START
-- falls between them.
-- KEYS: conv, opt-out. ARGV: the opt-out's ttl.
-- Returns 1 when it wrote the key, else 0.
local kept = opt_out_of(KEYS[1])
if not kept or kept == '' then return 0 end
if redis.call('SET', KEYS[2], kept, 'NX', 'EX', ARGV[1]) then return 1 end
return 0
