-- Not a script of its own: the scripts that read a customer's opt-outs from their
-- conversation (campaign_release, keep_opt_out) start with it. The conversation
-- hash `conv`'s opt-outs in the opt-out key's form: `1` (STOP), `m` (STOP MARKETING, among
-- the flags of `cp`: codec.campaign_field), `1m`, or '' for none; false when there is no
-- conversation (its `o` field is always written).
local function opt_out_of(conv)
  local flags = redis.call('HMGET', conv, 'o', 'cp')
  if flags[1] == false then return false end
  local marketing = string.find(string.match(flags[2] or '', '^[^|]*'), 'm', 1, true) ~= nil
  return (flags[1] == '1' and '1' or '') .. (marketing and 'm' or '')
end
