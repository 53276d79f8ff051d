#!/bin/sh
# API benchmark (docs/benchmarks.md, "GraphQL API"). Usage:
#   cargo build --release -p cmdb-server --bin cmdb
#   cargo run --release -p cmdb-graphql --example bench_estate -- /tmp/cmdb-bench/data 20000 800
#   graphql/bench/run.sh /tmp/cmdb-bench/data [target/release/cmdb] [seconds] [connections]
# Env: DEPTHS (impact depths, default 10), IMPACT_IDS (ids file for impact, default the processes)
set -eu
DATA=${1:?data dir}
BIN=${2:-target/release/cmdb}
SECS=${3:-20}
CONNS=${4:-32}
HERE=$(cd "$(dirname "$0")" && pwd)
PORT=18090
"$BIN" --data-dir "$DATA" --log warn serve --bind 127.0.0.1:$PORT > /dev/null &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null' EXIT
# A 1M-CI store takes several seconds to open (adjacency index, group rules).
for _ in $(seq 1 240); do
  curl -sf http://127.0.0.1:$PORT/readyz > /dev/null && break
  sleep 0.5
done
curl -sf http://127.0.0.1:$PORT/readyz > /dev/null
echo "== ci(id) lookup: $CONNS connections, ${SECS}s"
IDS="$DATA/bench-processes.txt" wrk -t2 -c"$CONNS" -d"$SECS"s --latency -s "$HERE/ci_lookup.lua" http://127.0.0.1:$PORT
for D in ${DEPTHS:-10}; do
  echo "== impact(process, maxDepth: $D): $CONNS connections, ${SECS}s"
  IDS="${IMPACT_IDS:-$DATA/bench-processes.txt}" DEPTH=$D wrk -t2 -c"$CONNS" -d"$SECS"s --latency -s "$HERE/impact.lua" http://127.0.0.1:$PORT
done
