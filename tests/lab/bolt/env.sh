# Shared settings of the Bolt lab (sourced by setup.sh, start.sh, stop.sh). Override any of
# these through the environment.
BOLT_LAB_VENV=${BOLT_LAB_VENV:-/var/tmp/cmdb-bolt-lab/venv}
BOLT_LAB_DIR=${BOLT_LAB_DIR:-/var/tmp/cmdb-bolt-lab/server}
BOLT_LAB_HOST=127.0.0.1
BOLT_LAB_PORT=${BOLT_LAB_PORT:-17687}
BOLT_LAB_HTTP_PORT=${BOLT_LAB_HTTP_PORT:-12480}
BOLT_LAB_PASSWORD=${BOLT_LAB_PASSWORD:-cmdb-lab-password}
BOLT_LAB_DATABASE=${BOLT_LAB_DATABASE:-cmdb}
BOLT_LAB_HEAP=${BOLT_LAB_HEAP:-512m}
ARCADEDB_VERSION=26.10.2.post1
