# Sourced by the labs' start/stop scripts (POSIX sh). `alive PID`: the process exists and is not
# a zombie. `kill -0` alone is not enough: a killed lab daemon is reparented to PID 1, and where
# PID 1 does not reap (some CI containers, `unshare --pid` under a plain command), the dead
# daemon stays a zombie that `kill -0` still reports, so a restart would see "already running"
# and start nothing.
alive() {
  [ -n "${1:-}" ] || return 1
  kill -0 "$1" 2>/dev/null || return 1
  # /proc/PID/stat: "pid (comm) STATE ..."; comm may hold spaces, so take what follows the last ')'.
  state=$(sed -n 's/.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null)
  [ "$state" != Z ] && [ "$state" != X ]
}
