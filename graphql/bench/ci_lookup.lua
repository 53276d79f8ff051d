-- wrk -s graphql/bench/ci_lookup.lua http://127.0.0.1:8080  (IDS=path to one CI id per line)
local ids = {}
for line in io.lines(os.getenv("IDS") or "bench-processes.txt") do ids[#ids + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  local id = ids[(i % #ids) + 1]
  return wrk.format(nil, "/graphql", nil,
    '{"query":"query($id: ID!) { ci(id: $id) { id name class status lastSeen } }","variables":{"id":"' .. id .. '"}}')
end
response = function(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"') then
    print("bad response: " .. status .. " " .. body)
    wrk.thread:stop()
  end
end
