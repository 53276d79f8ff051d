#!/usr/bin/env bash
# PID 1 of one lab host (started by start.sh as
#   ip netns exec cmdbe-NAME unshare --pid --fork --mount-proc --uts --mount … host-init.sh DIR),
# so the host has its own network, PID, UTS and mount namespaces. Gives it its own hostname,
# /etc/hostname, /etc/machine-id and no DMI data (all lab hosts share this machine's), then runs
# sshd, snmpd and the host's service until it is killed.
set -u
DIR="$1"                      # the host's runtime dir: env, sshd_config, snmpd.conf, logs
# shellcheck disable=SC1091
. "$DIR/env"                  # NAME ADDRESS ROLE LISTEN UPSTREAM_ADDRS SVC SNMPD_USER

hostname "$NAME"
printf '%s\n' "$NAME" > "$DIR/hostname"
mount --bind "$DIR/hostname" /etc/hostname
mount --bind "$DIR/machine-id" /etc/machine-id
# This machine's DMI serial would make every lab host look like one machine.
[ -d /sys/class/dmi/id ] && mount -t tmpfs -o size=64k,mode=0755 none /sys/class/dmi/id
# Its own (empty) home for root: the machine's shell start-up files are not this host's.
mount -t tmpfs -o size=1m,mode=0700 none /root

children=()
trap 'kill "${children[@]}" 2>/dev/null; exit 0' TERM INT

/usr/sbin/sshd -D -f "$DIR/sshd_config" -E "$DIR/sshd.log" &
children+=($!)
drop=()
[ "$SNMPD_USER" = root ] || drop=(-u "$SNMPD_USER" -g "$SNMPD_USER")
MIBDIRS="$DIR/no-mibs" MIBS="" SNMP_PERSISTENT_DIR="$DIR/snmp-persist" \
  /usr/sbin/snmpd -f "${drop[@]}" -C -c "$DIR/snmpd.conf" -Lf "$DIR/snmpd.log" -p "$DIR/snmpd.pid" &
children+=($!)
args=()
for p in $LISTEN; do args+=(--listen "$p"); done
for u in $UPSTREAM_ADDRS; do args+=(--connect "$u"); done
"$SVC" "${args[@]}" >"$DIR/service.log" 2>&1 &
children+=($!)
wait
