-- Commit one step: fencing token, version check, ack of the inbox entry, then the new state,
-- the replies to send, the timers to keep, the calls to make and the step's entry in the
-- conversation's history, all or nothing.
-- The partition's index of conversations (by when each last stepped) is kept in the same go.
-- So are the counts of the flows' moves, in the partition's hash of the hour.
-- Replies go to the outbox KEYS[3] names, but to the campaigns' outbox while the
-- conversation has a campaign's first message there still unsent (its hash's `cq` counts
-- them; the send's script takes one off): a conversation's messages go out in order.
-- A step may count in the campaign that last messaged the customer (a reply, an opt-out):
-- in that campaign's counts of the partition, while they are kept.
-- A step that changes the customer's opt-outs writes them to the opt-out key too (named by
-- a one-way hash of the id, kept longer than the conversation): `1` for STOP, `m` for STOP
-- MARKETING, `1m` both; none, deleted. It stands for the conversation once that is gone.
-- KEYS: conv, inbox, outbox, lease, dead, timers, calls, stats, history, conversations,
--       flows' counts of the hour, the campaigns' outbox, a campaign's counts, opt-out
-- ARGV: token, expected version, entry id, ttl,
--       n fields, fields...,
--       n replies, (conv, reply, task, space, campaign) x n (a campaign's first message
--       names it in its entry, `k`; '' for none),
--       dead-letter reason ('' for none), event, conv,
--       n timers to drop, members...,
--       n timers to set, (due, member) x n,
--       n calls, (conv, call, space) x n,
--       history length (0: none), history ttl, the step's history entry,
--       conv, now (ms), counts' ttl, n counts, fields...,
--       n campaign counts, names...,
--       the opt-out ('=': unchanged, '': none, else its value), the opt-out's ttl
-- Returns {new version}, or {-1} (lease lost), {-2, stored version} (stale), {-3} (the
-- entry was committed already).
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return {-1} end
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[2]) then return {-2, v} end
if redis.call('XACK', KEYS[2], 'w', ARGV[3]) == 0 then return {-3} end
redis.call('XDEL', KEYS[2], ARGV[3])
local i = 5
local nf = tonumber(ARGV[i])
local fields = {'v', v + 1}
for j = 1, nf do fields[#fields + 1] = ARGV[i + j] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[4])
i = i + nf + 1
local nr = tonumber(ARGV[i])
local out = KEYS[3]
if out ~= KEYS[12] and tonumber(redis.call('HGET', KEYS[1], 'cq') or '0') > 0 then
  out = KEYS[12]
end
if out == KEYS[12] and nr > 0 then redis.call('HINCRBY', KEYS[1], 'cq', nr) end
for j = 0, nr - 1 do
  local b = i + 1 + j * 5
  if ARGV[b + 4] == '' then
    redis.call('XADD', out, '*',
      'c', ARGV[b], 'r', ARGV[b + 1], 't', ARGV[b + 2], 's', ARGV[b + 3])
  else
    redis.call('XADD', out, '*',
      'c', ARGV[b], 'r', ARGV[b + 1], 't', ARGV[b + 2], 's', ARGV[b + 3], 'k', ARGV[b + 4])
  end
end
i = i + 1 + nr * 5
redis.call('HINCRBY', KEYS[8], 'steps', 1)
if ARGV[i] ~= '' then
  redis.call('XADD', KEYS[5], '*', 'kind', 'in', 'why', ARGV[i], 'c', ARGV[i + 2],
    'e', ARGV[i + 1])
  redis.call('HINCRBY', KEYS[8], 'dead_letters_in', 1)
end
i = i + 3
local nd = tonumber(ARGV[i])
for j = 1, nd do redis.call('ZREM', KEYS[6], ARGV[i + j]) end
i = i + nd + 1
local nt = tonumber(ARGV[i])
for j = 0, nt - 1 do
  redis.call('ZADD', KEYS[6], ARGV[i + 1 + j * 2], ARGV[i + 2 + j * 2])
end
i = i + 1 + nt * 2
local nc = tonumber(ARGV[i])
for j = 0, nc - 1 do
  local b = i + 1 + j * 3
  redis.call('XADD', KEYS[7], '*', 'c', ARGV[b], 'r', ARGV[b + 1], 's', ARGV[b + 2])
end
i = i + 1 + nc * 3
keep_history(KEYS[9], ARGV[i], ARGV[i + 1], ARGV[i + 2])
local now = tonumber(ARGV[i + 4])
redis.call('ZADD', KEYS[10], now, ARGV[i + 3])
redis.call('ZREMRANGEBYSCORE', KEYS[10], '-inf', '(' .. (now - tonumber(ARGV[4]) * 1000))
local ncounts = tonumber(ARGV[i + 6])
for j = 1, ncounts do redis.call('HINCRBY', KEYS[11], ARGV[i + 6 + j], 1) end
if ncounts > 0 then redis.call('EXPIRE', KEYS[11], ARGV[i + 5]) end
i = i + 7 + ncounts
if tonumber(ARGV[i]) > 0 and redis.call('EXISTS', KEYS[13]) == 1 then
  for j = 1, tonumber(ARGV[i]) do redis.call('HINCRBY', KEYS[13], ARGV[i + j], 1) end
end
i = i + 1 + tonumber(ARGV[i])
if ARGV[i] == '' then
  redis.call('DEL', KEYS[14])
elseif ARGV[i] ~= '=' then
  redis.call('SET', KEYS[14], ARGV[i], 'EX', ARGV[i + 1])
end
return {v + 1}
