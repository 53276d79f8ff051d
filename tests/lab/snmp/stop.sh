#!/usr/bin/env bash
# Stop the SNMP lab started by start.sh (only the processes whose pid files it wrote).
set -uo pipefail
RUN="${SNMP_LAB_DIR:-/tmp/cmdb-snmplab}"
. "$(cd "$(dirname "$0")" && pwd)/../alive.sh"
[ -d "$RUN" ] || exit 0
if [ "${1:-}" != "--locked" ]; then exec 9>"$RUN/.lock"; flock 9; fi
for f in "$RUN"/pids/*.pid "$RUN/snmpd.pid"; do
  if [ -f "$f" ]; then
    pid="$(cat "$f")"
    if alive "$pid"; then
      kill "$pid"
      for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
      alive "$pid" && kill -9 "$pid"
    fi
    rm -f "$f"
  fi
done
rm -f "$RUN/hash"
echo "snmp lab stopped"
