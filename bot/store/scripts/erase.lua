-- Erase a conversation, as a customer may ask: its hash, its history, its place in the
-- partition's index, its timers, its entries waiting in the inbox, outbox and calls streams
-- (acked and deleted: no step and no send of it after this), its dead letters and its sent
-- messages' records. An opt-out survives as a key named by a one-way hash of the
-- conversation's id, which holds nothing else: `1` for STOP, `m` for STOP MARKETING, `1m`
-- for both: as the caller says it stands once the events waiting in the inbox are counted
-- (a STOP among them holds). Only if the conversation is still at the version the caller
-- read (the timers to drop come from that read), and its events waiting in the inbox are
-- those the caller read.
-- KEYS: conv, history, conversations, timers, inbox, outbox, calls, dead, opt-out,
--       the campaigns' outbox, message records...
-- ARGV: expected version, conv id, opt-out ttl (BOT_OPT_OUT_TTL), the opt-out to keep ('':
--       none), n waiting events, their ids..., n timers, members...
-- Returns -1 (changed meanwhile: read again), else {conversation, history, timers, inbox,
-- outbox, calls, dead, records, opted out} (counts of what was erased; opted out: 1 when
-- the customer's STOP is kept, else 0).
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return -1 end
local conv = ARGV[2]
local opted = ARGV[4]
local nw = tonumber(ARGV[5])
local read = {}
for j = 1, nw do read[ARGV[5 + j]] = true end
local waiting = {}
for _, entry in ipairs(redis.call('XRANGE', KEYS[5], '-', '+')) do
  local fields = entry[2]
  for f = 1, #fields, 2 do
    if fields[f] == 'c' and fields[f + 1] == conv then
      if not read[entry[1]] then return -1 end
      waiting[#waiting + 1] = entry[1]
      break
    end
  end
end
if #waiting ~= nw then return -1 end
local at = 6 + nw
local erased = {redis.call('DEL', KEYS[1]), redis.call('LLEN', KEYS[2])}
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], conv)
local nt = tonumber(ARGV[at])
local timers = 0
for j = 1, nt do timers = timers + redis.call('ZREM', KEYS[4], ARGV[at + j]) end
erased[#erased + 1] = timers
local function drop(stream, group)
  local n = 0
  for _, entry in ipairs(redis.call('XRANGE', stream, '-', '+')) do
    local fields = entry[2]
    for f = 1, #fields, 2 do
      if fields[f] == 'c' and fields[f + 1] == conv then
        if group then redis.call('XACK', stream, group, entry[1]) end
        redis.call('XDEL', stream, entry[1])
        n = n + 1
        break
      end
    end
  end
  return n
end
for _, id in ipairs(waiting) do
  redis.call('XACK', KEYS[5], 'w', id)
  redis.call('XDEL', KEYS[5], id)
end
erased[#erased + 1] = #waiting
erased[#erased + 1] = drop(KEYS[6], 's') + drop(KEYS[10], 's')
erased[#erased + 1] = drop(KEYS[7], 'c')
erased[#erased + 1] = drop(KEYS[8], nil)
local records = 0
for j = 11, #KEYS do records = records + redis.call('DEL', KEYS[j]) end
erased[#erased + 1] = records
if opted ~= '' then
  redis.call('SET', KEYS[9], opted, 'EX', ARGV[3])
else
  redis.call('DEL', KEYS[9])
end
-- Kept: the customer's STOP stands after this (written by this erasure, or before it).
erased[#erased + 1] = string.sub(opted, 1, 1) == '1' and 1 or 0
return erased
