#!/usr/bin/env bash
# One-time, idempotent setup of the estate lab (root): the tools start.sh uses. snmpsim comes
# from the SNMP lab's venv (tests/lab/snmp/setup.sh).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
if [ "$(id -u)" != 0 ]; then echo "setup.sh must run as root" >&2; exit 1; fi
need=()
for pkg in iproute2 util-linux openssh-server openssh-client snmpd snmp python3; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}"
fi
mkdir -p /run/sshd
"$HERE/../snmp/setup.sh" >/dev/null
echo "estate lab ready to start"
