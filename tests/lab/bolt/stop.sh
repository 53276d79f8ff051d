#!/bin/sh
# Stop the Bolt lab server started by start.sh (by its recorded pid only). Idempotent.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
. "$here/../alive.sh"
pidfile="$BOLT_LAB_DIR/server.pid"
[ -f "$pidfile" ] || exit 0
pid=$(cat "$pidfile")
if alive "$pid"; then
  kill "$pid" 2>/dev/null || true
  i=0
  while alive "$pid" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  alive "$pid" && kill -9 "$pid" 2>/dev/null || true
fi
rm -f "$pidfile"
