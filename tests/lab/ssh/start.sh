#!/bin/bash
# Start the SSH lab (idempotent): real Debian sshd instances on loopback, port 2222.
#   main sshd:  127.0.0.1            real shell (this machine)
#               127.0.3.1-9          simulated estate (ForceCommand → recordings)
#               127.0.3.20-24        misbehaving hosts (garbage, 10 MB, non-UTF-8, hung, endless)
#   bench sshd: 127.0.3.101-150      real shells, for the Ansible comparison (4 instances: one
#                                    sshd listens on at most 16 addresses)
# State (keys, configs, logs, pid files, copies of the recordings) lives in $CMDB_SSH_LAB_DIR
# (default /tmp/cmdb-ssh-lab), readable by the lab user. Prints the lab dir on success.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd -P)"
REPO="$(cd "$HERE/../../.." && pwd)"
. "$HERE/../alive.sh"
LAB="${CMDB_SSH_LAB_DIR:-/tmp/cmdb-ssh-lab}"
PORT=2222
LAB_USER=cmdblab

if [ ! -x /usr/sbin/sshd ] || ! id "$LAB_USER" >/dev/null 2>&1; then
  echo "SSH lab is not set up: run tests/lab/ssh/setup.sh (as root) first" >&2
  exit 2
fi
mkdir -p "$LAB" /run/sshd
chmod 755 "$LAB"
# one start at a time (test binaries and the benchmark may start the lab concurrently)
exec 9>"$LAB/.start.lock"
flock 9

# keys: host key, a second "impostor" host key for mismatch tests, client keys
[ -f "$LAB/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C cmdb-lab-host -f "$LAB/host_key"
[ -f "$LAB/impostor_host_key" ] || ssh-keygen -q -t ed25519 -N '' -C cmdb-lab-impostor -f "$LAB/impostor_host_key"
[ -f "$LAB/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C cmdb-lab-client -f "$LAB/client_key"
[ -f "$LAB/client_key_pass" ] || ssh-keygen -q -t ed25519 -N 'lab-passphrase' -C cmdb-lab-client-pass -f "$LAB/client_key_pass"
[ -f "$LAB/wrong_key" ] || ssh-keygen -q -t ed25519 -N '' -C cmdb-lab-unauthorized -f "$LAB/wrong_key"
cat "$LAB/client_key.pub" "$LAB/client_key_pass.pub" > "$LAB/authorized_keys"
chmod 644 "$LAB/authorized_keys"

# recordings and the responder, world-readable for the lab user
mkdir -p "$LAB/recordings"
cp "$REPO"/discovery/src/linux/testdata/estate/*.out "$LAB/recordings/"
install -m 755 "$HERE/responder.sh" "$LAB/responder.sh"
chmod 755 "$LAB/recordings"; chmod 644 "$LAB/recordings/"*

ESTATE="lb1:1 web1:2 web2:3 web3:4 app1:5 app2:6 db1:7 db2:8 cache1:9"
BAD="garbage:20 big:21 nonutf8:22 hung:23 endless:24"

common() {  # $1 = instance name
  cat <<CONF
Port $PORT
HostKey $LAB/host_key
PidFile $LAB/sshd-$1.pid
AuthorizedKeysFile $LAB/authorized_keys
UsePAM no
StrictModes no
PasswordAuthentication yes
PubkeyAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $LAB_USER
MaxStartups 300
MaxSessions 20
MaxAuthTries 6
LoginGraceTime 30
UseDNS no
PrintMotd no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitUserEnvironment no
CONF
}

write_main() {
  common main
  echo "ListenAddress 127.0.0.1"
  for e in $ESTATE $BAD; do echo "ListenAddress 127.0.3.${e#*:}"; done
  for e in $ESTATE $BAD; do
    printf 'Match LocalAddress 127.0.3.%s\n    ForceCommand %s/responder.sh %s\n' "${e#*:}" "$LAB" "${e%%:*}"
  done
}

write_bench() {  # $1 = instance number 1..4: 127.0.3.(101+13*(n-1)) .. up to 150
  common "bench$1"
  local start=$((101 + 13 * ($1 - 1))) end=$((101 + 13 * $1 - 1))
  [ $end -gt 150 ] && end=150
  for i in $(seq $start $end); do echo "ListenAddress 127.0.3.$i"; done
}

start_instance() {  # $1 = name; config on stdin
  local conf="$LAB/sshd-$1.conf" pidf="$LAB/sshd-$1.pid" new="$LAB/sshd-$1.conf.new"
  cat > "$new"
  if [ -f "$pidf" ] && alive "$(cat "$pidf")"; then
    if cmp -s "$new" "$conf"; then rm -f "$new"; return 0; fi
    kill "$(cat "$pidf")" 2>/dev/null || true
    for _ in $(seq 50); do alive "$(cat "$pidf")" || break; sleep 0.1; done
  fi
  mv "$new" "$conf"
  /usr/sbin/sshd -t -f "$conf"
  # 9>&-: a daemon must not inherit the start lock, or the next start.sh waits for it forever
  /usr/sbin/sshd -f "$conf" -E "$LAB/sshd-$1.log" 9>&-
}

write_main | start_instance main
for n in 1 2 3 4; do write_bench $n | start_instance "bench$n"; done

# an ssh-agent holding the authorized client key, for agent authentication tests
if ! SSH_AUTH_SOCK="$LAB/agent.sock" ssh-add -l >/dev/null 2>&1; then
  if [ -f "$LAB/agent.pid" ] && alive "$(cat "$LAB/agent.pid")"; then kill "$(cat "$LAB/agent.pid")"; fi
  rm -f "$LAB/agent.sock"
  eval "$(ssh-agent -s -a "$LAB/agent.sock" 9>&-)" >/dev/null
  echo "$SSH_AGENT_PID" > "$LAB/agent.pid"
  SSH_AUTH_SOCK="$LAB/agent.sock" ssh-add -q "$LAB/client_key"
fi

# readiness: every address accepts TCP
wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/$1/$PORT") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "sshd on $1:$PORT did not come up; see $LAB/sshd-*.log" >&2
  exit 1
}
wait_port 127.0.0.1
for e in $ESTATE $BAD; do wait_port "127.0.3.${e#*:}"; done
for i in $(seq 101 150); do wait_port "127.0.3.$i"; done
echo "$LAB"
