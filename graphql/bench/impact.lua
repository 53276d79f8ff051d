-- wrk -s graphql/bench/impact.lua http://127.0.0.1:8080  (IDS=one CI id per line; DEPTH=maxDepth)
local ids = {}
for line in io.lines(os.getenv("IDS") or "bench-processes.txt") do ids[#ids + 1] = line end
local depth = os.getenv("DEPTH") or "10"
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  local id = ids[(i % #ids) + 1]
  return wrk.format(nil, "/graphql", nil,
    '{"query":"query($ids: [ID!]!) { impact(ids: $ids, maxDepth: ' .. depth ..
    ') { affectedCount services { serviceId severity depth paths service { name criticality owner } } } }","variables":{"ids":["' .. id .. '"]}}')
end
response = function(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"') then
    print("bad response: " .. status .. " " .. body)
    wrk.thread:stop()
  end
end
