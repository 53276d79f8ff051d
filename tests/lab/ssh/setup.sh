#!/bin/sh
# One-time, idempotent setup of the SSH lab (root): openssh-server, and the lab login user with
# a known password. Nothing here listens anywhere; start.sh starts the lab's sshd instances on
# loopback only.
set -eu
LAB_USER=cmdblab
LAB_PASSWORD=cmdb-lab-password   # lab-only account, reachable only on 127.0.0.0/8
if [ "$(id -u)" != 0 ]; then echo "setup.sh must run as root" >&2; exit 1; fi
missing=""
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
command -v ssh-keygen >/dev/null 2>&1 || missing="$missing openssh-client"
[ -x /usr/bin/python3 ] || missing="$missing python3"
/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || missing="$missing python3-venv"
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq $missing
fi
# sshd shipped by Debian must not start on port 22 because of us: we never enable its unit.
if ! id "$LAB_USER" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash --comment "cmdb SSH lab" "$LAB_USER"
fi
echo "$LAB_USER:$LAB_PASSWORD" | chpasswd
mkdir -p /run/sshd
echo "SSH lab set up: user $LAB_USER, sshd $(/usr/sbin/sshd -V 2>&1 | head -n1)"
