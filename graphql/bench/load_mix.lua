-- wrk -s graphql/bench/load_mix.lua URL   (IDS = one process id per line; DEPTH, default 4)
-- A mix of what integrations send: 80 % ci(id) lookups, 15 % a filtered page of CIs,
-- 5 % impact at DEPTH. Every response that is not HTTP 200 or carries GraphQL `errors` is
-- counted (not fatal): the load run's result is that count, which must be 0.
local ids = {}
for line in io.lines(os.getenv("IDS") or "bench-processes.txt") do ids[#ids + 1] = line end
local depth = os.getenv("DEPTH") or "4"
local threads = {}
local i = 0
errors = 0
first_error = nil

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  i = i + 1
  local id = ids[(i % #ids) + 1]
  local k = i % 20
  local body
  if k < 16 then
    body = '{"query":"query($id: ID!) { ci(id: $id) { id name class status lastSeen } }","variables":{"id":"' .. id .. '"}}'
  elseif k < 19 then
    body = '{"query":"{ cis(first: 20, filter: {classes: [HOST], statuses: [ACTIVE]}) { totalCount edges { node { id name } } } }"}'
  else
    body = '{"query":"query($id: ID!) { impact(ids: [$id], maxDepth: ' .. depth .. ') { affectedCount services { serviceId severity } } }","variables":{"id":"' .. id .. '"}}'
  end
  return wrk.format(nil, "/graphql", nil, body)
end

response = function(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    errors = errors + 1
    if first_error == nil then first_error = status .. " " .. string.sub(body, 1, 300) end
  end
end

done = function(summary, latency, requests)
  local total = 0
  local first = nil
  for _, t in ipairs(threads) do
    total = total + t:get("errors")
    first = first or t:get("first_error")
  end
  io.write(string.format("LOAD requests=%d duration_s=%.1f req_per_s=%.1f graphql_or_http_errors=%d socket_errors=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6), total,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  if first then io.write("first error: " .. first .. "\n") end
end
