-- wrk's script for bench/bench_api.py: station devices POSTing drop-offs.
--
--   wrk -t 12 -c 12 -s bench/dropoffs.lua http://127.0.0.1:8765 -- MODE BATCH_SIZE MEMBERS CODE_PREFIX STATION:TOKEN ...
--
-- One connection per thread, each a station's device: thread n sends the n-th STATION:TOKEN's
-- drop-offs, one request after the other, as a station's device does (and as pgbench's client n
-- does in bench_api.py). MODE is "single" (POST /api/v1/dropoffs/, one drop-off) or "batch"
-- (POST /api/v1/dropoffs/batch/, BATCH_SIZE drop-offs, each with its own key), each for a random
-- one of the MEMBERS bench members (codes CODE_PREFIX followed by the number in 11 digits), with
-- a fresh Idempotency-Key. Each answer is checked: 201 (single) or 200 with every item created
-- (batch). done() prints one line, WRK {...}, with the counts and the latency percentiles in
-- microseconds.

local mode, batch_size, members, prefix, station
sent, good, bad, recorded = 0, 0, 0, 0  -- globals: done() reads them from each thread
local threads = {}

local function key()
  return string.format("%08x%08x%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff),
    math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

local function member_code()
  return prefix .. string.format("%011d", math.random(0, members - 1))
end

function setup(thread)
  table.insert(threads, thread)
  thread:set("device", #threads)
end

function init(args)
  mode, batch_size, members, prefix = args[1], tonumber(args[2]), tonumber(args[3]), args[4]
  local id, token = string.match(args[4 + device], "^(%d+):(.+)$")
  station = { id = id, token = token }
  math.randomseed(os.time() * 100 + device)
end

function request()
  local headers = {
    ["Authorization"] = "Token " .. station.token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = key(),
  }
  sent = sent + 1
  if mode == "single" then
    local body = string.format('{"station": %s, "member_code": "%s", "cartons": 1}', station.id, member_code())
    return wrk.format("POST", "/api/v1/dropoffs/", headers, body)
  end
  local items = {}
  for i = 1, batch_size do
    items[i] = string.format('{"idempotency_key": "%s", "member_code": "%s", "cartons": 1}', key(), member_code())
  end
  local body = string.format('{"station": %s, "items": [%s]}', station.id, table.concat(items, ", "))
  return wrk.format("POST", "/api/v1/dropoffs/batch/", headers, body)
end

function response(status, headers, body)
  if mode == "single" then
    if status == 201 then
      good, recorded = good + 1, recorded + 1
    else
      bad = bad + 1
    end
    return
  end
  local created = tonumber(string.match(body or "", '"created":%s*(%d+)'))
  if status == 200 and created == batch_size then
    good, recorded = good + 1, recorded + created
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local totals = { sent = 0, good = 0, bad = 0, recorded = 0 }
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + thread:get(name)
    end
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK {"seconds": %.3f, "requests": %d, "good": %d, "bad": %d, "recorded": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.duration / 1e6, summary.requests, totals.good, totals.bad, totals.recorded,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
