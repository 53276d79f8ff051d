#!/usr/bin/env bash
# Remove the lab estate: every process in a cmdbe-* network namespace, then the namespaces.
set -uo pipefail
RUN="${ESTATE_LAB_DIR:-/tmp/cmdb-estate}"
if [ "${1:-}" != "--locked" ] && [ -d "$RUN" ]; then exec 9>"$RUN/.lock"; flock 9; fi
for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^cmdbe-'); do
  pids=$(ip netns pids "$n" 2>/dev/null)
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  for _ in $(seq 1 50); do [ -z "$(ip netns pids "$n" 2>/dev/null)" ] && break; sleep 0.1; done
  ip netns del "$n" 2>/dev/null
done
rm -f "$RUN/hash"
echo "estate lab stopped"
