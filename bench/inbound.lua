-- wrk script of the bench (bench/run.py): signed CAMS receipt pushes (the token is in the
-- URL's query), one ChatAppInbound item each, from CUSTOMERS customers in turn.
--
--   wrk -t1 -cN -dD -s bench/inbound.lua URL -- CUSTOMERS TAG BUSINESS PREFIX
--
-- One thread (-t1): message numbers are the thread's.
-- Message i (from 0) comes from customer i % CUSTOMERS (number PREFIX + 8 digits), has the
-- id TAG-i, and is a tapped button (Type REPLY, payload YES): a customer in no flow starts
-- the bench's flow with it, a customer in its first state answers with it. Its text carries
-- the mark #TAG.CUSTOMER.i@SENT_US (when the push was built, µs since the epoch), which the
-- flow's reply repeats: the fake CAMS reads it back for the end-to-end latency.
-- At the end one line `BENCH {json}` gives the counts and the latency percentiles (µs).

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } bench_timeval;
int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")

local function now_us()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end

local customers, tag, business, prefix = 10000, "run", "8613800000000", "86139"
local threads = {}
counter = 0 -- global: done() reads it from each thread

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  customers = tonumber(args[1]) or customers
  tag = args[2] or tag
  business = args[3] or business
  prefix = args[4] or prefix
  wrk.headers["Content-Type"] = "application/json"
end

local template = '[{"MessageId":"%s-%d","From":"%s%08d","To":"%s","Timestamp":%.0f,'
  .. '"DisplayName":"Load","Name":"Load","Type":"REPLY",'
  .. '"Message":"{\\"text\\":\\"Yes #%s.%d.%d@%.0f\\",\\"payload\\":\\"YES\\"}"}]'

function request()
  local i = counter
  counter = counter + 1
  local c = i % customers
  local sent = now_us()
  local body = string.format(template, tag, i, prefix, c, business, sent / 1000,
    tag, c, i, sent)
  return wrk.format("POST", nil, nil, body)
end

function done(summary, latency, requests)
  local built = 0
  for _, t in ipairs(threads) do built = built + t:get("counter") end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"built":%d,"duration_us":%d,"connect_errors":%d,'
      .. '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, built, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
