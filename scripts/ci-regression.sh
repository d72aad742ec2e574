#!/usr/bin/env bash
# The CI regression gate: run the small CI scenario (scenarios/ci.toml) with repetitions,
# compare it with the committed baseline (results/baseline/), and write a Markdown report.
#
# Usage:
#   scripts/ci-regression.sh [--out DIR] [-- COMPARE_ARGS...]
#   scripts/ci-regression.sh --refresh-baseline
#
# Environment:
#   REPEAT     repetitions per run (default 3; the noise model needs at least 2)
#   BASELINE   baseline results folder (default results/baseline)
#   SCENARIO   scenario file (default scenarios/ci.toml)
#
# Anything after `--` goes to `transport-bench compare`, e.g. `-- --threshold p99=20%`.
#
# Outputs (default target/ci-regression/): candidate/ (the results folder), compare/report.md
# (paste into the pull request), compare/compare.png, compare/bencher.json,
# compare/github-action-benchmark-{smaller,bigger}.json.
#
# Exit code: 0 nothing regressed; 4 something regressed; 3 a run failed (messages lost, harness
# error) and nothing regressed; 2 bad input (e.g. the baseline holds other runs: refresh it).
# Takes about 2 minutes on a 2-core machine once the release build is cached.
set -euo pipefail

cd "$(dirname "$0")/.."
REPEAT="${REPEAT:-3}"
BASELINE="${BASELINE:-results/baseline}"
SCENARIO="${SCENARIO:-scenarios/ci.toml}"
OUT="target/ci-regression"
REFRESH=0
COMPARE_ARGS=()

while [[ $# -gt 0 ]]; do
    case "$1" in
        --out) OUT="$2"; shift 2 ;;
        --refresh-baseline) REFRESH=1; shift ;;
        --) shift; COMPARE_ARGS=("$@"); break ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

echo "== building transport-bench (release)" >&2
cargo build --release --locked -q -p transport-bench
BIN=target/release/transport-bench

if [[ "$REFRESH" == 1 ]]; then
    # Replace the baseline with a fresh run of the same scenario. Commit the result together
    # with the change that justifies it (see results/baseline/README.md).
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    echo "== running $SCENARIO x$REPEAT into a new baseline" >&2
    "$BIN" run "$SCENARIO" --repeat "$REPEAT" --out "$tmp/run" --quiet
    keep="$BASELINE/README.md"
    [[ -f "$keep" ]] && cp "$keep" "$tmp/README.md"
    rm -rf "$BASELINE"
    mkdir -p "$(dirname "$BASELINE")"
    cp -r "$tmp/run" "$BASELINE"
    [[ -f "$tmp/README.md" ]] && cp "$tmp/README.md" "$BASELINE/README.md"
    echo "baseline refreshed: $BASELINE (review and commit it)" >&2
    exit 0
fi

if [[ ! -f "$BASELINE/summary.json" ]]; then
    echo "no baseline at $BASELINE/summary.json; create one with $0 --refresh-baseline" >&2
    exit 2
fi

rm -rf "$OUT"
mkdir -p "$OUT"
echo "== running $SCENARIO x$REPEAT" >&2
run_status=0
"$BIN" run "$SCENARIO" --repeat "$REPEAT" --out "$OUT/candidate" --quiet >"$OUT/run.txt" || run_status=$?
if [[ "$run_status" != 0 && "$run_status" != 3 ]]; then
    # 2 = bad input, anything else = the harness could not produce results: nothing to compare.
    cat "$OUT/run.txt" >&2
    exit "$run_status"
fi

echo "== comparing with $BASELINE" >&2
compare_status=0
"$BIN" compare "$BASELINE" "$OUT/candidate" --out "$OUT/compare" --quiet \
    ${COMPARE_ARGS[@]+"${COMPARE_ARGS[@]}"} || compare_status=$?

if [[ -f "$OUT/compare/report.md" ]]; then
    if [[ "$run_status" == 3 ]]; then
        # A failed run still produced results (lost messages show up in the report); say so
        # at the top, where the reader looks first.
        { printf '> ❗ The candidate run reported failures (exit 3); see the lost-messages rows.\n\n'
          cat "$OUT/compare/report.md"; } >"$OUT/compare/report.tmp"
        mv "$OUT/compare/report.tmp" "$OUT/compare/report.md"
    fi
    echo "report: $OUT/compare/report.md" >&2
    # On GitHub Actions the report also becomes the job summary.
    if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
        cat "$OUT/compare/report.md" >>"$GITHUB_STEP_SUMMARY"
    fi
fi

if [[ "$compare_status" != 0 ]]; then
    exit "$compare_status"
fi
exit "$run_status"
