#!/bin/sh
# Stop the SSH lab's sshd instances (by their pid files only).
LAB="${CMDB_SSH_LAB_DIR:-/tmp/cmdb-ssh-lab}"
. "$(cd "$(dirname "$0")" && pwd)/../alive.sh"
for p in "$LAB"/sshd-*.pid; do
  [ -f "$p" ] || continue
  pid="$(cat "$p")"
  if alive "$pid"; then kill "$pid"; fi
  rm -f "$p"
done
if [ -f "$LAB/agent.pid" ]; then
  pid="$(cat "$LAB/agent.pid")"
  if alive "$pid"; then kill "$pid"; fi
  rm -f "$LAB/agent.pid" "$LAB/agent.sock"
fi
echo "SSH lab stopped"
