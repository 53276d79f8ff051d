#!/usr/bin/env bash
# Idempotent install of everything the SNMP lab needs (run as root):
#   - Debian: snmpd (net-snmp agent for the real local host), snmp (snmpwalk/snmpbulkwalk),
#     python3-venv (so the venv's interpreter lives under /usr and is readable by `nobody`)
#   - a venv at $SNMP_LAB_VENV (default /opt/cmdb-snmplab-venv) with snmpsim + pysmi
set -euo pipefail
VENV="${SNMP_LAB_VENV:-/opt/cmdb-snmplab-venv}"
need=()
for pkg in snmpd snmp python3-venv bzip2; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}"
fi
# Debian's snmpd package starts a system agent on 127.0.0.1:161; the lab does not need it.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now snmpd >/dev/null 2>&1 || true; fi
if [ ! -x "$VENV/bin/snmpsim-command-responder" ]; then
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q 'snmpsim>=1.2,<1.3' pysmi
fi
chmod -R a+rX "$VENV"
echo "snmp lab ready: venv $VENV"
