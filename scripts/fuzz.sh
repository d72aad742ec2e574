#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo-fuzz, libFuzzer) for a bounded time each, starting
# from the committed corpus, and fails if any target crashes (a panic, an abort, an
# allocation past the target's limit, a hang past libFuzzer's timeout).
#
# Needs the nightly toolchain and cargo-fuzz: `rustup toolchain install nightly` and
# `cargo install cargo-fuzz --locked`. Built without a sanitizer: our crates deny unsafe code,
# so AddressSanitizer would check little beyond the dependencies and costs a second build;
# the targets' own allocator enforces their allocation limits instead (fuzz/src/lib.rs).
# Debug assertions are on, so integer overflow in a decoder is a crash.
#
# New inputs go to target/fuzz-corpus/<target> (the committed corpus is only read); a crash is
# saved under fuzz/artifacts/<target>/ and named in the output.
#
# Usage: scripts/fuzz.sh [--seconds N] [--jobs J] [--no-build] [TARGET...]
#   --seconds N   time per target (default 20)
#   --jobs J      targets run at once (default 1; each is one process, at nice 19)
#   --no-build    use the targets already built
#   TARGET...     only these targets (default: all of `cargo fuzz list`)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=20
jobs=1
targets=()
build=true
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
    --jobs) jobs="${2:?--jobs needs a number}"; shift 2 ;;
    --no-build) build=false; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    -*) echo "unknown option $1; allowed: --seconds N, --jobs J, --no-build, TARGET..." >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
case "$seconds$jobs" in
  *[!0-9]*) echo "--seconds and --jobs take whole numbers" >&2; exit 2 ;;
esac

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "needs the nightly toolchain: rustup toolchain install nightly" >&2
  exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "needs cargo-fuzz: cargo install cargo-fuzz --locked" >&2
  exit 2
fi

flags=(-O -a --sanitizer none)
if $build; then
  (cd fuzz && cargo +nightly fuzz build "${flags[@]}")
fi
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fi

out="${CARGO_TARGET_DIR:-$PWD/target}"
mkdir -p "$out/fuzz-logs"
bin_dir="fuzz/target/x86_64-unknown-linux-gnu/release"

# One target: its binary directly (already built), the scratch corpus first so only it is
# written, the committed corpus after it. -timeout: one input running past 10 s is a hang.
run_one() {
  local t="$1" scratch="$out/fuzz-corpus/$1" log="$out/fuzz-logs/$1.log"
  mkdir -p "$scratch" "fuzz/corpus/$t" "fuzz/artifacts/$t"
  if nice -n 19 "$bin_dir/$t" "$scratch" "fuzz/corpus/$t" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
    echo "$t: ok ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs in ${seconds}s, $(grep -o 'cov: [0-9]*' "$log" | tail -1))"
  else
    echo "$t: FAILED; log $log; input $(grep -o 'fuzz/artifacts/[^ ]*' "$log" | tail -1)"
    # The log may not outlive the machine (CI): the panic and the input itself go to the output.
    grep -m1 -A12 -E 'panicked at|ERROR: libFuzzer' "$log" | sed "s/^/  $t| /"
    grep -m1 -A3 '^Base64:' "$log" | sed "s/^/  $t| /"
    return 1
  fi
}

failed=0
running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
if [ "$failed" -ne 0 ]; then
  echo "a fuzz target crashed: reproduce with \`cd fuzz && cargo +nightly fuzz run ${flags[*]} TARGET INPUT\`" >&2
  exit 1
fi
