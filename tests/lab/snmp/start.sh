#!/usr/bin/env bash
# Start the SNMP lab (idempotent; run as root after setup.sh). Leaves it running; stop.sh stops it.
#   127.0.1.1:1161        net-snmp snmpd for this real host: v1/v2c community `labpublic`,
#                         v3 users `labsha` (SHA/AES authPriv), `labmd5` (MD5/DES authPriv),
#                         `labauth` (SHA authNoPriv)
#   127.0.1.10-14:1161    snmpsim: recordings snmpsim ships (community `public`)
#   127.0.1.20-40:1161    snmpsim: the generated lab topology (gen_topology.py; community `public`)
# Environment: SNMP_LAB_DIR (runtime dir, default /tmp/cmdb-snmplab), SNMP_LAB_VENV.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
RUN="${SNMP_LAB_DIR:-/tmp/cmdb-snmplab}"
VENV="${SNMP_LAB_VENV:-/opt/cmdb-snmplab-venv}"
PORT=1161
SIM="$VENV/bin/snmpsim-command-responder"

if [ "$(id -u)" != 0 ]; then echo "start.sh: must run as root (snmpsim drops to nobody)" >&2; exit 2; fi
for tool in snmpd snmpget "$SIM"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "start.sh: $tool missing: run tests/lab/snmp/setup.sh" >&2; exit 3; }
done
mkdir -p "$RUN"
exec 9>"$RUN/.lock"
flock 9

SHIPPED="$("$VENV/bin/python" -c 'import snmpsim,os;print(os.path.join(os.path.dirname(snmpsim.__file__),"data","recorded"))')"
# index → address → recording ("shipped:NAME" or a generated device)
ENDPOINTS=(
  "127.0.1.10 shipped:linux-full-walk"
  "127.0.1.11 shipped:winxp-full-walk"
  "127.0.1.12 shipped:eaton-9PX-partial-walk"
  "127.0.1.13 shipped:linksys-system"
  "127.0.1.14 shipped:solaris-system"
  "127.0.1.20 lab-sw1"
  "127.0.1.21 lab-sw2"
  "127.0.1.22 lab-rtr1"
  "127.0.1.30 lab-web1"
  "127.0.1.31 lab-db1"
  "127.0.1.40 lab-huge"
)

# Build the per-device data dirs in a staging dir, compare with what is running.
# (One snmpsim process per device: snmpsim 1.2's per-transport recording selection does not
# work with its v3 architecture, so each address gets its own process answering `public`.)
STAGE="$RUN/stage"
rm -rf "$STAGE" && mkdir -p "$STAGE/gen" "$STAGE/dev"
python3 "$HERE/gen_topology.py" "$STAGE/gen"
for e in "${ENDPOINTS[@]}"; do
  set -- $e
  src="$2"
  if [[ "$src" == shipped:* ]]; then f="$SHIPPED/${src#shipped:}.snmprec"; else f="$STAGE/gen/$src.snmprec"; fi
  mkdir -p "$STAGE/dev/$1"
  cp "$f" "$STAGE/dev/$1/public.snmprec"
done
HASH="$( (cat "$HERE/start.sh" "$HERE/snmpd.conf.in"; find "$STAGE/dev" -type f | sort | xargs cat) | sha256sum | cut -c1-16)"

. "$HERE/../alive.sh"
alive_file() { [ -f "$1" ] && alive "$(cat "$1")"; }
ready() {
  snmpget -v2c -c labpublic -t 0.5 -r 0 "udp:127.0.1.1:$PORT" 1.3.6.1.2.1.1.5.0 >/dev/null 2>&1 || return 1
  for e in "${ENDPOINTS[@]}"; do
    set -- $e
    snmpget -v2c -c public -t 0.5 -r 0 "udp:$1:$PORT" 1.3.6.1.2.1.1.1.0 >/dev/null 2>&1 || return 1
  done
}

all_alive() {
  alive_file "$RUN/snmpd.pid" || return 1
  for e in "${ENDPOINTS[@]}"; do set -- $e; alive_file "$RUN/pids/$1.pid" || return 1; done
}
if all_alive && [ "$(cat "$RUN/hash" 2>/dev/null)" = "$HASH" ] && ready; then
  echo "snmp lab already running ($RUN)"
  exit 0
fi
"$HERE/stop.sh" --locked >/dev/null 2>&1 || true

rm -rf "$RUN/dev" "$RUN/cache" && mv "$STAGE/dev" "$RUN/dev" && mkdir -p "$RUN/cache" "$RUN/pids" "$RUN/logs" "$RUN/snmpd-persist"
chmod -R a+rX "$RUN/dev"; chmod 755 "$RUN"

# --- net-snmp for this host
sed "s/@PORT@/$PORT/g" "$HERE/snmpd.conf.in" > "$RUN/snmpd.conf"
rm -f "$RUN/snmpd-persist/snmpd.conf"   # forget old v3 users/engine state: createUser re-adds them
# (MIBDIRS points at an empty dir: the agent needs no MIB text files, and it keeps the log quiet)
mkdir -p "$RUN/no-mibs"
MIBDIRS="$RUN/no-mibs" MIBS="" SNMP_PERSISTENT_DIR="$RUN/snmpd-persist" \
  snmpd -C -c "$RUN/snmpd.conf" -Lf "$RUN/snmpd.log" -p "$RUN/snmpd.pid" 9>&-

# --- snmpsim, one daemon per address
for e in "${ENDPOINTS[@]}"; do
  set -- $e
  mkdir -p "$RUN/cache/$1"; chown nobody:nogroup "$RUN/cache/$1"
  : > "$RUN/logs/$1.log"; chown nobody:nogroup "$RUN/logs/$1.log"
  "$SIM" --data-dir="$RUN/dev/$1" --cache-dir="$RUN/cache/$1" --process-user=nobody --process-group=nogroup \
    --logging-method="file:$RUN/logs/$1.log" --log-level=error --daemonize --pid-file="$RUN/pids/$1.pid" \
    --agent-udpv4-endpoint="$1:$PORT" 9>&- &
done
wait

for _ in $(seq 1 90); do
  if ready; then echo "$HASH" > "$RUN/hash"; echo "snmp lab ready ($RUN)"; exit 0; fi
  sleep 0.5
done
echo "start.sh: lab did not become ready; logs: $RUN/logs/ $RUN/snmpd.log" >&2
exit 1
