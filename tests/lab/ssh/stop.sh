#!/bin/sh
# Stop the SSH lab's sshd instances (by their pid files only).
LAB="${CMDB_SSH_LAB_DIR:-/tmp/cmdb-ssh-lab}"
for p in "$LAB"/sshd-*.pid; do
  [ -f "$p" ] || continue
  pid="$(cat "$p")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
  rm -f "$p"
done
echo "SSH lab stopped"
