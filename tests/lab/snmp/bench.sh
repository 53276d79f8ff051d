#!/usr/bin/env bash
# SNMP discovery benchmark (not a test). Starts a benchmark agent set: one net-snmp snmpd
# answering on 127.0.2.1..N:1161 (this host's real MIB on every address), then times
#   (a) our discovery: walk + parse + transform of all N devices (cmdb-discovery example
#       `snmp_bench`, release build, through the run machinery, 32 targets at a time), and
#   (b) net-snmp `snmpbulkwalk`, 32 devices in parallel, each walking the same subtrees
#       (raw walk only, output to /dev/null), same max-repetitions, timeout and retries,
# and prints the ratio (ours / snmpbulkwalk; < 1.0 means we are faster). Run as root.
# usage: bench.sh [N=100] [ROUNDS=3]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
N="${1:-100}"
ROUNDS="${2:-3}"
RUN="${SNMP_LAB_DIR:-/tmp/cmdb-snmplab}/bench"
PORT=1161
COMMUNITY=benchpublic
mkdir -p "$RUN"

addrs=(); for i in $(seq 1 "$N"); do addrs+=("127.0.2.$i"); done
listen=$(printf "udp:%s:$PORT," "${addrs[@]}"); listen="${listen%,}"
cat > "$RUN/snmpd.conf" <<CONF
agentAddress $listen
rocommunity $COMMUNITY 127.0.0.0/8
sysName bench-host
CONF
if [ -f "$RUN/snmpd.pid" ] && kill -0 "$(cat "$RUN/snmpd.pid")" 2>/dev/null; then kill "$(cat "$RUN/snmpd.pid")"; sleep 0.5; fi
mkdir -p "$RUN/no-mibs" "$RUN/persist"
MIBDIRS="$RUN/no-mibs" MIBS="" SNMP_PERSISTENT_DIR="$RUN/persist" snmpd -C -c "$RUN/snmpd.conf" -Lf "$RUN/snmpd.log" -p "$RUN/snmpd.pid"
trap 'kill "$(cat "$RUN/snmpd.pid")" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do snmpget -v2c -c $COMMUNITY -t 0.3 -r 0 "udp:127.0.2.$N:$PORT" 1.3.6.1.2.1.1.5.0 >/dev/null 2>&1 && break; sleep 0.2; done

(cd "$ROOT" && cargo build -q --release -p cmdb-discovery --example snmp_bench)
BIN="$ROOT/target/release/examples/snmp_bench"
mapfile -t OIDS < <("$BIN" --subtrees x x)
targets=(); for a in "${addrs[@]}"; do targets+=("$a:$PORT"); done

walk_device() {  # one device, every subtree, like our probe (GETBULK, 30 repetitions, 1.5 s, 1 retry)
  for o in "${OIDS[@]}"; do
    snmpbulkwalk -v2c -c "$COMMUNITY" -Cr30 -t 1.5 -r 1 -On -Oq "udp:$1:$PORT" "$o" 2>/dev/null || true
  done
}
export -f walk_device; export COMMUNITY PORT; export OIDS_STR="${OIDS[*]}"

best_ours=""; best_c=""
for r in $(seq 1 "$ROUNDS"); do
  out=$("$BIN" "$COMMUNITY" 32 "${targets[@]}")
  ms=$(sed -n 's/.*wall_ms=\([0-9]*\).*/\1/p' <<<"$out")
  echo "round $r ours:          $out"
  t0=$(date +%s%N)
  vb=$(printf "%s\n" "${addrs[@]}" | xargs -P 32 -I{} bash -c 'OIDS=($OIDS_STR); walk_device {}' | wc -l)
  cms=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "round $r snmpbulkwalk:  devices=$N varbinds=$vb wall_ms=$cms (32 parallel)"
  [ -z "$best_ours" ] || [ "$ms" -lt "$best_ours" ] && best_ours=$ms
  [ -z "$best_c" ] || [ "$cms" -lt "$best_c" ] && best_c=$cms
done
ratio=$(awk -v a="$best_ours" -v b="$best_c" 'BEGIN { printf "%.2f", a / b }')
echo "best of $ROUNDS: ours ${best_ours} ms, snmpbulkwalk ${best_c} ms, ratio ours/snmpbulkwalk = ${ratio}x"
