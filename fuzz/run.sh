#!/usr/bin/env bash
# Fuzz every input surface (docs/fuzzing.md). Two engines over the same target functions
# (fuzz/src/lib.rs) and the same committed corpus (fuzz/corpus/<target>/):
#
#   fuzz/run.sh quick [N]
#       What CI runs (tests/run-all.sh). The stable toolchain's test build: each target replays
#       its corpus, then N inputs mutated from it (default 30000; CMDB_FUZZ_SEED picks the
#       mutations). No extra build tier: it reuses what `cargo test --workspace` compiled.
#
#   fuzz/run.sh libfuzzer [--seconds S | --runs N] [TARGET…]
#       Coverage-guided libFuzzer through cargo-fuzz, on the stable toolchain (no sanitizer, no
#       nightly needed); installs cargo-fuzz when missing. Default 60 s per target. The long
#       run: `fuzz/run.sh libfuzzer --runs 1000000`. Builds in release mode with debug
#       assertions and overflow checks; the first build takes ~12 CPU-minutes (6 min on 2 cores).
#
# Any panic, crash, hang (an input running past FUZZ_TIMEOUT seconds, default 10 for libFuzzer)
# or out-of-memory fails the run. libFuzzer saves the input under fuzz/artifacts/<target>/ and
# this script prints it; new interesting inputs go to a scratch directory, so the committed
# corpus never changes by itself.
set -euo pipefail
cd "$(dirname "$0")"

CARGO_FUZZ_VERSION=0.13.2
engine="${1:-quick}"
[ $# -gt 0 ] && shift

case "$engine" in
quick)
  n="${1:-${CMDB_FUZZ_MUTATIONS:-30000}}"
  echo "== fuzzing (quick): corpus + $n mutations per target"
  started=$SECONDS
  log="$(mktemp)"
  trap 'rm -f "$log"' EXIT
  set +e
  CMDB_FUZZ_MUTATIONS="$n" cargo test -p cmdb-fuzz --test corpus -- --nocapture >"$log" 2>&1
  status=$?
  set -e
  if [ "$status" -eq 0 ]; then
    grep -E 'mutations in' "$log" | sed 's/^/   /'
    grep -E '^test result' "$log"
  else
    grep -vE '^\s*(Compiling|Running|Finished)' "$log" | tail -80 >&2
  fi
  echo "== fuzzing (quick) done in $((SECONDS - started))s"
  exit "$status"
  ;;
libfuzzer) ;;
*)
  echo "usage: fuzz/run.sh quick [N] | fuzz/run.sh libfuzzer [--seconds S | --runs N] [TARGET…]" >&2
  exit 2
  ;;
esac

mode=seconds
amount="${FUZZ_SECONDS:-60}"
case "${1:-}" in
  --runs) mode=runs; amount="$2"; shift 2 ;;
  --seconds) amount="$2"; shift 2 ;;
esac
timeout_s="${FUZZ_TIMEOUT:-10}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

# -s none: no sanitizer (they need nightly; Rust's own checks are what catch bugs here); the
# `libfuzzer` feature builds the fuzz_targets/ binaries. Debug assertions and overflow checks as
# in `cargo test`, through the release profile: without -O (or with -a) cargo-fuzz puts
# -Cdebug-assertions into RUSTFLAGS for every crate, overriding the workspace's per-package
# profile settings (snmp2 wraps: Cargo.toml).
build_flags=(-O -s none --features libfuzzer)
export CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
started=$SECONDS
echo "== building ${#targets[@]} fuzz targets (libFuzzer)"
if ! cargo fuzz build "${build_flags[@]}" >"$scratch/build.log" 2>&1; then
  tail -60 "$scratch/build.log" >&2
  exit 1
fi
echo "   built in $((SECONDS - started))s"

failed=()
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t" "artifacts/$t"
  if [ "$mode" = runs ]; then limit=(-runs="$amount"); else limit=(-max_total_time="$amount"); fi
  t0=$SECONDS
  log="$scratch/$t.log"
  if cargo fuzz run "${build_flags[@]}" "$t" "$scratch/$t" "corpus/$t" -- \
      "${limit[@]}" -timeout="$timeout_s" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    cov="$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)"
    printf '   %-16s ok  %10s runs  %7s exec/s  %-20s %5ss\n' "$t" "${runs:-?}" "${rate:-?}" "${cov:-}" "$((SECONDS - t0))"
  else
    echo "   $t FAILED:"
    grep -v '^#[0-9]' "$log" | tail -60 | sed 's/^/     /'
    for a in artifacts/"$t"/*; do
      [ -f "$a" ] || continue
      echo "     input $a (base64):"
      head -c 4096 "$a" | base64 | sed 's/^/       /'
    done
    failed+=("$t")
  fi
done
echo "== fuzzing (libFuzzer) done in $((SECONDS - started))s"
echo "fuzz: $((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
  echo "reproduce: cd fuzz && CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true cargo fuzz run ${build_flags[*]} TARGET artifacts/TARGET/FILE" >&2
  echo "   or copy the input to fuzz/corpus/TARGET/regression-NAME and run: cargo test -p cmdb-fuzz --test corpus TARGET" >&2
  exit 1
fi
