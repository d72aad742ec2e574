#!/usr/bin/env bash
# The figures of issue 17 in one command: every transport's closed-loop ceiling and its p50 at
# 1K msg/s (scenarios/perf.toml, plus coalesced WebSocket from scenarios/perf-ws-coalesced.toml),
# each as a ratio to the raw-TCP floor of the same run and to a base ref (the previous main),
# paired: base and candidate binaries run interleaved (A B A B ...) in the same time window and
# are compared pair by pair, so machine noise that drifts over minutes hits both alike.
#
# Usage:
#   scripts/perf.sh [--base REF] [--repeat N] [--out DIR] [--quick] [--strict]
#
#   --base REF   git ref to compare with (default: main); built in a git worktree under DIR
#   --repeat N   A/B pairs (default 5)
#   --out DIR    working folder (default target/perf)
#   --quick      only the pairs: skip the harness_cost bench and the 5 x 8 s repeat series
#   --strict     exit 4 when any target line is NOT MET (lines not measured are not gated)
#
# Prints one row per transport: candidate median msg/s (closed loop) with its coefficient of
# variation over the repeats, and p50 (1K msg/s), each as a ratio to the same run's raw-TCP
# floor and to the paired base run (median over pairs, with min..max); then each of issue 17's
# targets with the figure measured here and whether it is met (scripts/perf_report.py); then
# issue 33's table, per transport base | candidate: closed-loop ceiling, ratio to raw-tcp, server
# and load-generator CPU per delivered message and `limited_by`, and issue 33's targets. Every
# results folder stays under DIR/runs for `transport-bench report`/`compare`.
# Exit code: 0 ok (met or not: the targets are read, not gated, unless --strict), 2 bad input,
# 3 a build or a run failed, 4 a target NOT MET with --strict. About 40 s per pair on a 2-core
# machine once both release builds are cached, plus ~5 min for the bench and the repeat series.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
BASE=main
REPEAT=5
OUT="target/perf"
QUICK=0
STRICT=()

while [[ $# -gt 0 ]]; do
    case "$1" in
        --base) BASE="$2"; shift 2 ;;
        --repeat) REPEAT="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --strict) STRICT=(--strict); shift ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || { echo "--repeat must be a positive integer, got $REPEAT" >&2; exit 2; }
BASE_SHA="$(git rev-parse --verify "$BASE^{commit}" 2>/dev/null)" \
    || { echo "--base $BASE is not a git commit" >&2; exit 2; }
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

# shellcheck source=scripts/base-target.sh
. "$ROOT/scripts/base-target.sh"

build() { # build SRC_DIR TARGET_DIR DEST_BINARY
    # Each side has its own target dir (scripts/base-target.sh says why).
    (cd "$1" && CARGO_TARGET_DIR="$2" cargo build --release --locked -q -p transport-bench) \
        || { echo "build of $1 failed" >&2; exit 3; }
    cp "$2/release/transport-bench" "$3"
}

SRC="$OUT/base-src"
if [[ "$(git -C "$SRC" rev-parse HEAD 2>/dev/null)" != "$BASE_SHA" ]]; then
    git worktree remove --force "$SRC" 2>/dev/null || rm -rf "$SRC"
    git worktree prune
    git worktree add --detach -q "$SRC" "$BASE_SHA"
fi
echo "== building base $BASE (${BASE_SHA:0:10}) and candidate $(git rev-parse --short HEAD) (release)" >&2
seed_base_target "$SRC" "$OUT/target-base"
build "$SRC" "$OUT/target-base" "$OUT/bin-base"
build "$ROOT" "$ROOT/target" "$OUT/bin-cand"
if cmp -s "$OUT/bin-base" "$OUT/bin-cand"; then
    echo "note: base and candidate binaries are identical (no change reaches the binary)" >&2
fi

rm -rf "$OUT/runs"
mkdir -p "$OUT/runs"
run() { # run SIDE PAIR
    local bin="$OUT/bin-$1" dir="$OUT/runs/$2-$1"
    "$bin" run scenarios/perf.toml --out "$dir/all" --quiet >/dev/null || true
    "$bin" run scenarios/perf-ws-coalesced.toml --no-baseline --out "$dir/ws-coalesced" --quiet \
        >/dev/null || true
    [[ -f "$dir/all/summary.json" && -f "$dir/ws-coalesced/summary.json" ]] \
        || { echo "run $2 of $1 wrote no summary" >&2; exit 3; }
}

BENCH_ARGS=()
if ((!QUICK)); then
    # Issue 17's other two figures, candidate only: the harness's own cost per message
    # (criterion) and the closed-loop CV over 5 repeats of 8 s with the pinned layout. Before
    # the pairs: the bench (one core, no sockets) lets the machine settle after the builds.
    echo "== harness_cost bench (candidate)" >&2
    rm -rf "$ROOT/target/criterion/harness_per_message_in_units_of_64"
    CARGO_TARGET_DIR="$ROOT/target" cargo bench -q -p transport-bench --bench harness_cost \
        -- harness_per_message_in_units_of_64 >"$OUT/bench.log" 2>&1 \
        || { cat "$OUT/bench.log" >&2; echo "the harness_cost bench failed" >&2; exit 3; }
    echo "== repeatability: scenarios/perf-repeat.toml --repeat 5 (candidate, ~4 min)" >&2
    "$OUT/bin-cand" run scenarios/perf-repeat.toml --repeat 5 --out "$OUT/runs/repeat" --quiet \
        >/dev/null || true
    [[ -f "$OUT/runs/repeat/summary.json" ]] \
        || { echo "the repeat series wrote no summary" >&2; exit 3; }
    BENCH_ARGS=(--bench "$ROOT/target/criterion" --repeatability "$OUT/runs/repeat/summary.json")
fi

for ((i = 1; i <= REPEAT; i++)); do
    echo "== pair $i/$REPEAT" >&2
    # Alternate which side goes first, so neither always runs on a warmer or busier machine.
    if ((i % 2)); then run base "$i"; run cand "$i"; else run cand "$i"; run base "$i"; fi
done

rc=0
python3 "$ROOT/scripts/perf_report.py" "$OUT/runs" "$REPEAT" "$BASE" "${BENCH_ARGS[@]}" \
    "${STRICT[@]}" || rc=$?
echo "results: $OUT/runs" >&2
exit "$rc"
