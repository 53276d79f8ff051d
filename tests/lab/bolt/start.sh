#!/bin/sh
# Start the Bolt lab: an ArcadeDB server with its Bolt plugin on 127.0.0.1:$BOLT_LAB_PORT
# (default 17687; HTTP on $BOLT_LAB_HTTP_PORT, default 12480), user root, database `cmdb`.
# Idempotent: a running lab is reused. `start.sh --fresh` deletes the stored databases first.
# Prints nothing but errors and one "Bolt lab ..." line; the server log is $BOLT_LAB_DIR/server.log.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
. "$here/../alive.sh"
fresh=0
[ "${1:-}" = "--fresh" ] && fresh=1
pidfile="$BOLT_LAB_DIR/server.pid"
log="$BOLT_LAB_DIR/server.log"
if [ -f "$pidfile" ] && alive "$(cat "$pidfile")"; then
  if [ $fresh = 0 ]; then
    echo "Bolt lab already running: bolt://$BOLT_LAB_HOST:$BOLT_LAB_PORT (pid $(cat "$pidfile"))"
    exit 0
  fi
  "$here/stop.sh"
fi
[ -x "$BOLT_LAB_VENV/bin/python" ] || "$here/setup.sh"
adb=$("$BOLT_LAB_VENV/bin/python" -c "import importlib.util,os;print(os.path.dirname(importlib.util.find_spec('arcadedb_embedded').origin))")
mkdir -p "$BOLT_LAB_DIR"
[ $fresh = 1 ] && rm -rf "$BOLT_LAB_DIR/databases"
mkdir -p "$BOLT_LAB_DIR/databases"
: > "$log"
# setsid: the server survives the shell (and test process) that started it; stop.sh ends it.
# Run from the lab directory: ArcadeDB writes its own log/ under the working directory.
cd "$BOLT_LAB_DIR"
setsid "$adb/jre/bin/java" "-Xmx$BOLT_LAB_HEAP" -cp "$adb/jars/*" \
  -Darcadedb.server.rootPath="$BOLT_LAB_DIR" \
  -Darcadedb.server.databaseDirectory="$BOLT_LAB_DIR/databases" \
  -Darcadedb.server.rootPassword="$BOLT_LAB_PASSWORD" \
  -Darcadedb.server.httpIncomingHost=127.0.0.1 \
  -Darcadedb.server.httpIncomingPort="$BOLT_LAB_HTTP_PORT" \
  -Darcadedb.server.plugins="Bolt:com.arcadedb.bolt.BoltProtocolPlugin" \
  -Darcadedb.bolt.host=127.0.0.1 -Darcadedb.bolt.port="$BOLT_LAB_PORT" \
  -Darcadedb.server.defaultDatabases="$BOLT_LAB_DATABASE[root]" \
  com.arcadedb.server.ArcadeDBServer >>"$log" 2>&1 < /dev/null &
echo $! > "$pidfile"
i=0
while ! grep -q "ArcadeDB Server started" "$log"; do
  if ! alive "$(cat "$pidfile")"; then
    echo "Bolt lab: the server exited during start-up; last log lines:" >&2
    tail -n 20 "$log" >&2
    rm -f "$pidfile"
    exit 1
  fi
  i=$((i + 1))
  if [ $i -gt 600 ]; then
    echo "Bolt lab: no \"ArcadeDB Server started\" after 60 s; see $log" >&2
    "$here/stop.sh"
    exit 1
  fi
  sleep 0.1
done
echo "Bolt lab running: bolt://$BOLT_LAB_HOST:$BOLT_LAB_PORT user root database $BOLT_LAB_DATABASE (pid $(cat "$pidfile"))"
