#!/bin/sh
# ForceCommand of a simulated host: answers the cmdb collection script with the host's
# recording (recordings/NAME.out), or misbehaves on purpose for the "bad" hosts.
# $1 = simulated host name; the client's command is in $SSH_ORIGINAL_COMMAND.
H="$1"
D="$(dirname "$0")/recordings"
export LC_ALL=C
case "${SSH_ORIGINAL_COMMAND:-}" in
  *"@@CMDB@@"*) ;;
  *) echo "lab host $H only answers the cmdb collection script" >&2; exit 127 ;;
esac
case "$H" in
  garbage)
    # random bytes and text, no section markers
    head -c 200000 /dev/urandom; printf '\nSegmentation fault (core dumped)\n'; exit 139 ;;
  big)
    # the first sections of web1, then a 10 MB `ps` section: cut at the client's output cap
    sed -e '/^@@CMDB@@ BEGIN ps$/q' -e 's/^web1$/big1/' "$D/web1.out"
    yes '  999       1 root                             /usr/bin/flood --aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' | head -c 10485760
    exit 0 ;;
  nonutf8)
    # a complete recording with Latin-1 and invalid bytes in process arguments and os-release
    sed -e 's/^web1$/latin1/' -e 's/web1\.prod/latin1.prod/' -e 's/4XK2WB1/4XK2LT1/' \
        -e 's/nginx: worker process/nginx: worker \xe9\xff\xfe process/' \
        -e 's/^PRETTY_NAME=.*/PRETTY_NAME="Debian \xc3\x28 GNU\/Linux \xff"/' "$D/web1.out"
    exit 0 ;;
  hung)
    exec sleep 120 ;;
  endless)
    exec yes 'endless output' ;;
  *)
    exec cat "$D/$H.out" ;;
esac
