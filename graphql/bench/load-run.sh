#!/usr/bin/env bash
# The load run (docs/benchmarks.md, "Load run"): cmdb serve under a steady GraphQL mix from wrk
# for DURATION seconds while discovery runs (runDiscovery against the SNMP lab, back to back,
# including the 12,000-interface agent) write to the same store. Result: request rate,
# latencies, and the number of failed requests and failed runs — both must be 0.
#
#   cargo build --release -p cmdb-server --bin cmdb
#   cargo run --release -p cmdb-graphql --example bench_estate -- /tmp/cmdb-load/data 2000 100
#   tests/lab/snmp/setup.sh && tests/lab/snmp/start.sh        # as root
#   graphql/bench/load-run.sh /tmp/cmdb-load/data [target/release/cmdb] [seconds=600] [connections=4]
set -euo pipefail
DATA=${1:?data dir made by bench_estate}
BIN=$(realpath "${2:-target/release/cmdb}")
SECS=${3:-600}
CONNS=${4:-4}
HERE=$(cd "$(dirname "$0")" && pwd)
PORT=18091
URL=http://127.0.0.1:$PORT
WORK=$(dirname "$DATA")
TARGETS='["127.0.1.20:1161","127.0.1.21:1161","127.0.1.22:1161","127.0.1.30:1161","127.0.1.31:1161","127.0.1.40:1161"]'

command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
# The SNMP lab's credential, scoped to the lab's addresses, in the config file beside the data.
cat > "$WORK/cmdb.toml" <<TOML
[server]
discover_local_on_start = false
[[discovery.snmp]]
name = "lab"
version = "v2c"
community = "public"
scope = ["127.0.1.0/24"]
TOML
chmod 600 "$WORK/cmdb.toml"
cd "$WORK"
"$BIN" --data-dir "$DATA" --config "$WORK/cmdb.toml" --log warn serve --bind 127.0.0.1:$PORT > "$WORK/serve.out" 2> "$WORK/serve.log" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null || true; kill $DISC 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf $URL/readyz >/dev/null && break; sleep 0.2; done
curl -sf $URL/readyz >/dev/null

gql() { curl -sf -H 'Content-Type: application/json' --data "$1" $URL/graphql; }

# Discovery, back to back, for as long as the load lasts.
(
  end=$((SECONDS + SECS))
  runs=0; failed=0
  while [ $SECONDS -lt $end ]; do
    id=$(gql "{\"query\":\"mutation(\$t:[String!]!){ runDiscovery(input:{targets:\$t, credentials:[\\\"lab\\\"]}){ id } }\",\"variables\":{\"t\":$TARGETS}}" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
    [ -n "$id" ] || { failed=$((failed+1)); sleep 1; continue; }
    while :; do
      st=$(gql "{\"query\":\"{ discoveryRun(id: \\\"$id\\\") { status } }\"}" | sed -n 's/.*"status":"\([^"]*\)".*/\1/p')
      [ "$st" = RUNNING ] || break
      sleep 1
    done
    runs=$((runs+1)); [ "$st" = SUCCEEDED ] || failed=$((failed+1))
  done
  echo "DISCOVERY runs=$runs failed=$failed"
) > "$WORK/discovery.out" &
DISC=$!

echo "== load: $CONNS connections, ${SECS}s, mix of ci(id) / cis page / impact, discovery running throughout"
IDS="$DATA/bench-processes.txt" wrk -t2 -c"$CONNS" -d"$SECS"s --timeout 10s -s "$HERE/load_mix.lua" $URL | tee "$WORK/wrk.out"
wait $DISC || true
cat "$WORK/discovery.out"
health=$(curl -s -o /dev/null -w '%{http_code}' $URL/healthz)
echo "HEALTH after the run: $health"
grep -c ' ERROR ' "$WORK/serve.log" | sed 's/^/server ERROR log lines: /' || true
