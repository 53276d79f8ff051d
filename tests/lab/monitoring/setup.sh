#!/usr/bin/env bash
# The monitoring lab's real peers: Debian's Prometheus and Alertmanager. The tests start
# their own instances on loopback ports with their own configs (tests/src/monitoring_lab.rs);
# nothing here starts a daemon.
set -euo pipefail
if command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
# Packages may start their services where an init system runs; the tests use their own.
for s in prometheus prometheus-alertmanager; do
  (command -v systemctl >/dev/null && systemctl stop "$s" && systemctl disable "$s") >/dev/null 2>&1 || true
  (command -v service >/dev/null && service "$s" stop) >/dev/null 2>&1 || true
done
