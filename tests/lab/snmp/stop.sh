#!/usr/bin/env bash
# Stop the SNMP lab started by start.sh (only the processes whose pid files it wrote).
set -uo pipefail
RUN="${SNMP_LAB_DIR:-/tmp/cmdb-snmplab}"
[ -d "$RUN" ] || exit 0
if [ "${1:-}" != "--locked" ]; then exec 9>"$RUN/.lock"; flock 9; fi
for f in "$RUN"/pids/*.pid "$RUN/snmpd.pid"; do
  if [ -f "$f" ]; then
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$f"
  fi
done
rm -f "$RUN/hash"
echo "snmp lab stopped"
