#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine: install what the labs need (real SNMP
# agents, a real sshd, a real Bolt server — all on loopback), then run every test.
# Needs root (apt-get, a lab user for sshd, snmpsim dropping privileges).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "tests/run-all.sh installs lab packages and starts sshd/snmpd on 127.x addresses: run it as root" >&2
  exit 1
fi

command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }

# One build, run once: incremental compilation only costs disk here (it doubled the target
# directory; CI machines have little).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# Formatting and lints first: they fail in minutes, before the labs and the test build
# (rustfmt.toml; the lints are [workspace.lints] in Cargo.toml). rustup's default profile has
# both components; a toolchain installed with the minimal profile gets them here.
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
echo "== cargo fmt --check"
cargo fmt --all --check
# A check build of the workspace (~3 min on 2 cores, dependencies included, before the test
# build; the `npm ci` of the console's build script it runs is kept for the test build).
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== lab setup"
tests/lab/snmp/setup.sh
tests/lab/ssh/setup.sh
tests/lab/bolt/setup.sh
tests/lab/estate/setup.sh
tests/lab/monitoring/setup.sh
tests/lab/browser/setup.sh

# Tests start the labs they need on first use and leave them running for reuse; stop them when
# we are done so no daemon outlives the run.
cleanup() {
  tests/lab/snmp/stop.sh >/dev/null 2>&1 || true
  tests/lab/ssh/stop.sh >/dev/null 2>&1 || true
  tests/lab/bolt/stop.sh >/dev/null 2>&1 || true
  tests/lab/estate/stop.sh >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== cargo test"
cargo test --workspace --no-fail-fast "$@"

# Every input surface fed mutated input (docs/fuzzing.md). First the committed corpus plus a
# bounded number of mutations per target, reusing the test build (~1 min); then the cargo-fuzz
# targets under libFuzzer, coverage-guided, CMDB_FUZZ_SECONDS (default 10) per target: its own
# instrumented release build, ~6 min on 2 cores, plus installing cargo-fuzz on a fresh machine.
# CMDB_FUZZ_SECONDS=0 leaves the libFuzzer run out.
fuzz/run.sh quick
if [ "${CMDB_FUZZ_SECONDS:-10}" != 0 ]; then
  # The instrumented release build needs ~3 GB. On a machine short of disk, the test build
  # (done with by now) makes room: CI once failed here with "No space left on device".
  free_kb="$(df -Pk target 2>/dev/null | awk 'NR==2 {print $4}')"
  if [ -n "$free_kb" ] && [ "$free_kb" -lt $((6 * 1024 * 1024)) ] && [ -d target/debug ]; then
    echo "== $((free_kb / 1024)) MB free: removing the test build (target/debug) before the fuzz build"
    rm -rf target/debug
  fi
  fuzz/run.sh libfuzzer --seconds "${CMDB_FUZZ_SECONDS:-10}"
fi
