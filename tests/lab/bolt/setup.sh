#!/bin/sh
# One-time, idempotent setup of the Bolt lab: a Python venv (Debian's /usr/bin/python3) holding
# the ArcadeDB server with its Bolt plugin and its own JRE, from the PyPI wheel
# arcadedb-embedded. Nothing listens after this; start.sh starts the server on loopback.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
if ! /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq python3-venv
  else
    echo "setup.sh: python3-venv is missing (apt-get install python3-venv as root)" >&2; exit 1
  fi
fi
if [ ! -x "$BOLT_LAB_VENV/bin/python" ]; then
  mkdir -p "$(dirname "$BOLT_LAB_VENV")"
  /usr/bin/python3 -m venv "$BOLT_LAB_VENV"
fi
if ! "$BOLT_LAB_VENV/bin/pip" show arcadedb-embedded 2>/dev/null | grep -qx "Version: $ARCADEDB_VERSION"; then
  "$BOLT_LAB_VENV/bin/pip" install -q "arcadedb-embedded==$ARCADEDB_VERSION"
fi
adb=$("$BOLT_LAB_VENV/bin/python" -c "import importlib.util,os;print(os.path.dirname(importlib.util.find_spec('arcadedb_embedded').origin))")
[ -x "$adb/jre/bin/java" ] || { echo "setup.sh: no JRE in $adb" >&2; exit 1; }
echo "Bolt lab set up: ArcadeDB $ARCADEDB_VERSION in $BOLT_LAB_VENV"
