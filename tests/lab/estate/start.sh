#!/usr/bin/env bash
# Start the lab estate described in estate.conf (idempotent; root). Prints the runtime dir on its
# last line. A running estate built from the same files is reused; stop.sh removes it.
#
#   cmdbe-fabric     the L2 segment: a bridge every other namespace plugs into (10.77.0.0/24)
#   cmdbe-<host>     one per host: own network, PID, UTS and mount namespaces; sshd :22 (root,
#                    key auth), net-snmp snmpd udp/161, the host's service (host-init.sh)
#   cmdbe-switches   snmpsim answering for the switches from generated recordings
#   cmdbe-mgmt       where discovery runs from (`ip netns exec cmdbe-mgmt cmdb discover …`)
#
# Environment: ESTATE_LAB_DIR (runtime dir, default /tmp/cmdb-estate), ESTATE_SVC (path to the
# built estate-svc binary; required), SNMP_LAB_VENV (snmpsim venv made by tests/lab/snmp/setup.sh).
# Exit codes: 0 ready, 2 not set up (run setup.sh), 1 failed.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
RUN="${ESTATE_LAB_DIR:-/tmp/cmdb-estate}"
VENV="${SNMP_LAB_VENV:-/opt/cmdb-snmplab-venv}"
SIM="$VENV/bin/snmpsim-command-responder"
CONF="$HERE/estate.conf"

if [ "$(id -u)" != 0 ]; then echo "start.sh: the estate needs root (network, PID and mount namespaces)" >&2; exit 2; fi
for tool in ip unshare /usr/sbin/sshd /usr/sbin/snmpd snmpget ssh-keygen python3 "$SIM"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "start.sh: $tool missing: run tests/lab/estate/setup.sh" >&2; exit 2; }
done
SVC_SRC="${ESTATE_SVC:-}"
[ -x "$SVC_SRC" ] || { echo "start.sh: set ESTATE_SVC to the built estate-svc binary (cargo build -p cmdb-tests --bin estate-svc)" >&2; exit 2; }

mkdir -p "$RUN"
exec 9>"$RUN/.lock"
flock 9

# ---- the topology
declare -a HOSTS=() SWITCHES=()
declare -A ADDR ROLE LISTEN UPS NICS PORTS SNMPD SWKIND SWUP
COMMUNITY=""; MGMT=""
while read -r kind a b c d e f g h; do
  case "$kind" in
    host) HOSTS+=("$a"); ADDR[$a]=$b; ROLE[$a]=$c; LISTEN[$a]=$d; UPS[$a]=$e; NICS[$a]=$f; PORTS[$a]=$g; SNMPD[$a]=${h:-Debian-snmp} ;;
    switch) SWITCHES+=("$a"); ADDR[$a]=$b; SWKIND[$a]=$c; SWUP[$a]=$d ;;
    mgmt) MGMT=$a ;;
    community) COMMUNITY=$a ;;
  esac
done < <(grep -v '^\s*#' "$CONF" | grep -v '^\s*$')

HASH="$( (cat "$HERE"/*.sh "$HERE"/*.py "$CONF" "$SVC_SRC") | sha256sum | cut -c1-16)"

ns() { echo "cmdbe-$1"; }
ready() {
  for h in "${HOSTS[@]}" "${SWITCHES[@]}"; do
    ip netns exec cmdbe-mgmt snmpget -v2c -c "$COMMUNITY" -t 0.5 -r 0 "udp:${ADDR[$h]}:161" 1.3.6.1.2.1.1.5.0 >/dev/null 2>&1 || return 1
  done
  for h in "${HOSTS[@]}"; do
    ip netns exec cmdbe-mgmt bash -c "exec 3<>/dev/tcp/${ADDR[$h]}/22" 2>/dev/null || return 1
    # every upstream connection of the host's service is established (2 per upstream)
    local u a
    for u in ${UPS[$h]//,/ }; do
      [ "$u" = - ] && continue
      a="${ADDR[${u%%:*}]}:${u##*:}"
      [ "$(ip netns exec "$(ns "$h")" ss -Htn state established dst "$a" 2>/dev/null | wc -l)" -ge 2 ] || return 1
    done
  done
}
if [ "$(cat "$RUN/hash" 2>/dev/null)" = "$HASH" ] && ip netns list | grep -q '^cmdbe-mgmt' && ready; then
  echo "estate lab already running"
  echo "$RUN"
  exit 0
fi
"$HERE/stop.sh" --locked >/dev/null 2>&1 || true
rm -rf "$RUN/hosts" "$RUN/switches" "$RUN/bin" "$RUN/hash"
mkdir -p "$RUN/hosts" "$RUN/switches" "$RUN/bin"

# ---- keys: one client key (authorised as root on every host), one host key per host
[ -f "$RUN/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C cmdb-estate-client -f "$RUN/client_key"
cp "$RUN/client_key.pub" "$RUN/authorized_keys"
chmod 600 "$RUN/client_key"

# ---- the fabric: one bridge
ip netns add cmdbe-fabric
ip -n cmdbe-fabric link set lo up
ip -n cmdbe-fabric link add br0 type bridge
ip -n cmdbe-fabric link set br0 up

# plug NS's interface IFNAME (MAC) into the bridge through a veth pair named PEER on the fabric side
plug() {
  local nsname=$1 ifname=$2 macaddr=$3 peer=$4
  ip link add "$peer" netns cmdbe-fabric type veth peer name "$ifname" netns "$nsname"
  ip -n "$nsname" link set "$ifname" address "$macaddr"
  ip -n cmdbe-fabric link set "$peer" master br0 up
}

# ---- hosts
i=0
for h in "${HOSTS[@]}"; do
  i=$((i + 1))
  n=$(ns "$h"); d="$RUN/hosts/$h"
  mkdir -p "$d/no-mibs" "$d/snmp-persist"
  [ "${SNMPD[$h]}" = root ] || chown "${SNMPD[$h]}" "$d/snmp-persist"
  ip netns add "$n"
  ip -n "$n" link set lo up
  for k in net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 net.ipv6.conf.all.disable_ipv6=1 \
           net.ipv6.conf.default.disable_ipv6=1; do
    ip netns exec "$n" sysctl -qw "$k"
  done
  mac0=$(printf '52:54:00:77:%02x:00' "$i"); mac1=$(printf '52:54:00:77:%02x:01' "$i")
  case "${NICS[$h]}" in
    single)
      plug "$n" eth0 "$mac0" "$h-e0"
      ip -n "$n" addr add "${ADDR[$h]}/24" dev eth0
      ip -n "$n" link set eth0 up ;;
    nics)
      plug "$n" eth0 "$mac0" "$h-e0"; plug "$n" eth1 "$mac1" "$h-e1"
      second="${ADDR[$h]%.*}.$(( ${ADDR[$h]##*.} + 100 ))"
      ip -n "$n" addr add "${ADDR[$h]}/24" dev eth0
      ip -n "$n" addr add "$second/24" dev eth1
      ip -n "$n" link set eth0 up; ip -n "$n" link set eth1 up ;;
    bond)
      # Two NICs carrying one MAC, as bond slaves do (this kernel has no bonding driver, so
      # there is no bond0 device: the address sits on eth0).
      plug "$n" eth0 "$mac0" "$h-e0"; plug "$n" eth1 "$mac0" "$h-e1"
      ip -n "$n" addr add "${ADDR[$h]}/24" dev eth0
      ip -n "$n" link set eth0 up; ip -n "$n" link set eth1 up ;;
    *) echo "start.sh: unknown NICS ${NICS[$h]} for $h" >&2; exit 1 ;;
  esac
  # the service binary under its role's name
  [ -x "$RUN/bin/${ROLE[$h]}" ] || cp "$SVC_SRC" "$RUN/bin/${ROLE[$h]}"
  ups=""
  for u in ${UPS[$h]//,/ }; do
    [ "$u" = - ] && continue
    ups="$ups ${ADDR[${u%%:*}]}:${u##*:}"
  done
  head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$d/machine-id"; echo >> "$d/machine-id"
  [ -f "$d/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$d/host_key"
  cat > "$d/env" <<EOF
NAME=$h
ADDRESS=${ADDR[$h]}
ROLE=${ROLE[$h]}
LISTEN="${LISTEN[$h]}"
UPSTREAM_ADDRS="${ups# }"
SVC=$RUN/bin/${ROLE[$h]}
SNMPD_USER=${SNMPD[$h]}
EOF
  cat > "$d/sshd_config" <<EOF
Port 22
ListenAddress ${ADDR[$h]}
HostKey $d/host_key
AuthorizedKeysFile $RUN/authorized_keys
PidFile $d/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel ERROR
EOF
  cat > "$d/snmpd.conf" <<EOF
agentAddress udp:${ADDR[$h]}:161
rocommunity $COMMUNITY 10.77.0.0/24
sysLocation estate lab, rack 1
sysContact ops@estate.lab
dontLogTCPWrappersConnects yes
EOF
  # the host itself: PID 1 of its own PID namespace
  setsid ip netns exec "$n" unshare --pid --fork --mount-proc --uts --mount --propagation private \
    bash "$HERE/host-init.sh" "$d" </dev/null >"$d/init.log" 2>&1 9>&- &
done

# ---- switches: snmpsim, one daemon per switch address
ip netns add cmdbe-switches
ip -n cmdbe-switches link set lo up
# snmpsim drops to `nobody` before it binds: let it have port 161 in this namespace.
ip netns exec cmdbe-switches sysctl -qw net.ipv4.ip_unprivileged_port_start=0
plug cmdbe-switches sw0 "52:54:00:77:fe:00" switches-e0
ip -n cmdbe-switches link set sw0 up
python3 "$HERE/gen_switches.py" "$CONF" "$RUN/switches/gen"
for s in "${SWITCHES[@]}"; do
  ip -n cmdbe-switches addr add "${ADDR[$s]}/24" dev sw0
  mkdir -p "$RUN/switches/$s/data" "$RUN/switches/$s/cache"
  cp "$RUN/switches/gen/$s.snmprec" "$RUN/switches/$s/data/$COMMUNITY.snmprec"
  chown -R nobody:nogroup "$RUN/switches/$s/cache"
  : > "$RUN/switches/$s/log"; chown nobody:nogroup "$RUN/switches/$s/log"
done
chmod -R a+rX "$RUN/switches"; chmod 755 "$RUN"
for s in "${SWITCHES[@]}"; do
  ip netns exec cmdbe-switches "$SIM" --data-dir="$RUN/switches/$s/data" --cache-dir="$RUN/switches/$s/cache" \
    --process-user=nobody --process-group=nogroup --logging-method="file:$RUN/switches/$s/log" --log-level=error \
    --agent-udpv4-endpoint="${ADDR[$s]}:161" </dev/null >/dev/null 2>&1 9>&- &
done

# ---- management station
ip netns add cmdbe-mgmt
ip -n cmdbe-mgmt link set lo up
plug cmdbe-mgmt eth0 "52:54:00:77:ff:00" mgmt-e0
ip -n cmdbe-mgmt addr add "$MGMT/24" dev eth0
ip -n cmdbe-mgmt link set eth0 up

for _ in $(seq 1 120); do
  if ready; then
    echo "$HASH" > "$RUN/hash"
    echo "estate lab ready"
    echo "$RUN"
    exit 0
  fi
  sleep 0.5
done
echo "start.sh: the estate did not become ready; see $RUN/hosts/*/ and $RUN/switches/*/log" >&2
exit 1
