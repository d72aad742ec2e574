#!/usr/bin/env bash
# The CI regression gate.
#
# Paired mode (pull requests): build the base commit and the candidate (this working tree), run
# them side by side on this machine, pair by pair, and judge the per-pair ratios:
#   scripts/ci-regression.sh --base REF [--pairs N] [--out DIR]
# Each pair runs the gate scenario once per transport for both builds at the same moment
# (server of both on CPU 0, load generators on CPU 1), the base starting first in odd pairs and
# the candidate in even ones. Whatever else the machine is doing then happens to both, so the
# ratio candidate/base cancels it; the verdict logic is `transport-bench compare --paired`.
#
# Baseline mode (trend tracking): run scenarios/ci.toml and compare with the committed baseline
# (results/baseline/). When the baseline came from another CPU model or core count its
# verdicts are advisory (reported, exit 0) unless --strict:
#   scripts/ci-regression.sh [--strict] [--out DIR] [-- COMPARE_ARGS...]
#   scripts/ci-regression.sh --refresh-baseline
#
# Environment:
#   PAIRS          pairs in paired mode (default 9; the verdict needs at least 3)
#   GATE_SCENARIO  paired-mode scenario (default scenarios/gate.toml, from the candidate tree)
#   REPEAT, BASELINE, SCENARIO   baseline mode: repetitions (3), baseline folder, scenario
# Test-only, for scripts/gate-calibration.sh (they plant regressions in the candidate):
#   GATE_FEATURES       cargo features for both builds (e.g. test-knobs)
#   CANDIDATE_ENV       space-separated NAME=VALUE set for the candidate's runs only
#   CANDIDATE_SCENARIO  scenario file for the candidate's runs only
#   GATE_CANDIDATE_BIN  an already built candidate binary (skips the candidate build)
#
# Outputs (default target/ci-regression/): paired mode: base/ and candidate/ (one results
# folder per pair and transport), compare/report.md (the pull-request comment) and
# compare/verdicts.json; baseline mode: candidate/ and compare/ as before.
# The base binary is cached per commit in target/gate-bin/ (three kept); the base is checked
# out in a git worktree at target/gate-src (removed when the script ends) and built there with
# this checkout's target/ directory, so only the workspace crates rebuild.
#
# Exit code: 0 nothing regressed; 4 something regressed; 3 a run failed (messages lost,
# harness error) and nothing regressed; 2 bad input (unknown REF, scenario the base cannot
# read, a baseline that holds other runs).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
PAIRS="${PAIRS:-9}"
GATE_SCENARIO="${GATE_SCENARIO:-scenarios/gate.toml}"
REPEAT="${REPEAT:-3}"
BASELINE="${BASELINE:-results/baseline}"
SCENARIO="${SCENARIO:-scenarios/ci.toml}"
OUT="target/ci-regression"
BASE_REF=""
REFRESH=0
STRICT=0
COMPARE_ARGS=()
FEATURES=()
[[ -n "${GATE_FEATURES:-}" ]] && FEATURES=(--features "$GATE_FEATURES")

while [[ $# -gt 0 ]]; do
    case "$1" in
        --base) BASE_REF="$2"; shift 2 ;;
        --pairs) PAIRS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --strict) STRICT=1; shift ;;
        --refresh-baseline) REFRESH=1; shift ;;
        --) shift; COMPARE_ARGS=("$@"); break ;;
        -h|--help) sed -n '2,39p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

publish_report() {
    local report="$1"
    [[ -f "$report" ]] || return 0
    echo "report: $report" >&2
    # On GitHub Actions the report also becomes the job summary.
    if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
        cat "$report" >>"$GITHUB_STEP_SUMMARY"
    fi
}

remove_worktree() {
    if [[ -e "$ROOT/target/gate-src" ]]; then
        git worktree remove --force "$ROOT/target/gate-src" 2>/dev/null || rm -rf "$ROOT/target/gate-src"
    fi
    git worktree prune
}

# Whatever ends the script (Ctrl-C, a failed run) stops the runs it started and removes the
# base worktree.
cleanup() {
    local running pids
    # `$(jobs -p)` sees this shell's jobs (a process substitution might not).
    running="$(jobs -p)"
    mapfile -t pids <<<"$running"
    [[ -n "$running" ]] && kill "${pids[@]}" 2>/dev/null
    [[ -n "$BASE_REF" ]] && remove_worktree
    return 0
}
trap cleanup EXIT

# shellcheck source=scripts/base-target.sh
. "$ROOT/scripts/base-target.sh"

# Builds the base worktree (commit $1, checked out at target/gate-src) into
# target/gate-bin/<sha>[+features]/ unless it is there, and prints the binary's path.
build_base() {
    local sha="$1" key cache src="$ROOT/target/gate-src" status=0
    key="$sha${GATE_FEATURES:++$GATE_FEATURES}"
    cache="$ROOT/target/gate-bin/$key"
    if [[ ! -x "$cache/transport-bench" ]]; then
        echo "== building base $sha (release, its own target dir)" >&2
        # Not the candidate's target dir: scripts/base-target.sh says why.
        seed_base_target "$src" "$ROOT/target/gate-base"
        (cd "$src" && CARGO_TARGET_DIR="$ROOT/target/gate-base" cargo build --release --locked -q \
            -p transport-bench ${FEATURES[@]+"${FEATURES[@]}"}) >&2 || status=$?
        if [[ "$status" == 0 ]]; then
            mkdir -p "$cache"
            cp "$ROOT/target/gate-base/release/transport-bench" "$cache/transport-bench.tmp"
            mv "$cache/transport-bench.tmp" "$cache/transport-bench"
        fi
        [[ "$status" == 0 ]] || { echo "the base commit $sha does not build" >&2; return 3; }
        # Keep the three most recent base binaries (each is ~70 MB). The folders are named by
        # commit hash, so ls's output is safe to split.
        # shellcheck disable=SC2012
        ls -1dt "$ROOT"/target/gate-bin/*/ 2>/dev/null | tail -n +4 | xargs -r rm -rf
    fi
    echo "$cache/transport-bench"
}

# One run of the gate scenario for one transport, from folder DIR (a run records the commit
# of the checkout it runs in, so the base runs in its worktree):
#   run_one DIR BIN SCENARIO TRANSPORT OUT [NAME=VALUE...]   (absolute paths)
run_one() {
    local dir="$1" bin="$2" scenario="$3" transport="$4" out="$5"
    shift 5
    local floor=(--no-baseline)
    [[ "$transport" == raw-tcp ]] && floor=()
    (cd "$dir" && env "$@" "$bin" run "$scenario" --transport "$transport" "${floor[@]}" \
        --out "$out" --quiet) >"$out.log" 2>&1
}

paired() {
    local base_sha cand_bin base_bin
    base_sha="$(git rev-parse --verify --quiet "$BASE_REF^{commit}")" ||
        { echo "--base $BASE_REF is not a commit here (fetch full history?)" >&2; exit 2; }
    [[ "$PAIRS" =~ ^[0-9]+$ && "$PAIRS" -ge 3 ]] ||
        { echo "--pairs must be a number >= 3 (the verdict needs 3 pairs), got $PAIRS" >&2; exit 2; }
    OUT="$(realpath -m "$OUT")"
    local src="$ROOT/target/gate-src" base_scenario cand_scenario
    base_scenario="$(realpath "$GATE_SCENARIO")"
    cand_scenario="$(realpath "${CANDIDATE_SCENARIO:-$GATE_SCENARIO}")"
    # A fixed path: cargo then reuses the base's own artifacts from the last build instead of
    # adding a new set per checkout. Removed when the script ends.
    remove_worktree
    git worktree add --quiet --detach "$src" "$base_sha"
    base_bin="$(build_base "$base_sha")"
    rm -rf "$OUT"
    mkdir -p "$OUT/base" "$OUT/candidate" "$OUT/bin"
    cand_bin="$OUT/bin/transport-bench"
    if [[ -n "${GATE_CANDIDATE_BIN:-}" ]]; then
        cand_bin="$GATE_CANDIDATE_BIN"  # calibration: one build for many gate runs
    else
        echo "== building candidate (release)" >&2
        cargo build --release --locked -q -p transport-bench ${FEATURES[@]+"${FEATURES[@]}"}
        cp target/release/transport-bench "$cand_bin"
    fi
    if cmp -s "$base_bin" "$cand_bin"; then
        # Right for a change outside the binary; otherwise a stale build (see base-target.sh).
        echo "note: base and candidate binaries are identical" >&2
    fi
    local cand_env=()
    [[ -n "${CANDIDATE_ENV:-}" ]] && read -r -a cand_env <<<"$CANDIDATE_ENV"
    local transports
    mapfile -t transports < <("$cand_bin" list | grep -E '^[a-z][a-z0-9-]*$')
    echo "== $PAIRS pairs of ${transports[*]} (base $base_sha vs candidate)" >&2
    local run_failed=0 i t a b sa sb
    for ((i = 1; i <= PAIRS; i++)); do
        for t in "${transports[@]}"; do
            a="$OUT/base/$(printf 'p%02d' "$i")-$t"
            b="$OUT/candidate/$(printf 'p%02d' "$i")-$t"
            # Both at once; who starts first alternates so neither side always gets a head start.
            if ((i % 2)); then
                run_one "$src" "$base_bin" "$base_scenario" "$t" "$a" & pa=$!
                run_one "$ROOT" "$cand_bin" "$cand_scenario" "$t" "$b" ${cand_env[@]+"${cand_env[@]}"} & pb=$!
            else
                run_one "$ROOT" "$cand_bin" "$cand_scenario" "$t" "$b" ${cand_env[@]+"${cand_env[@]}"} & pb=$!
                run_one "$src" "$base_bin" "$base_scenario" "$t" "$a" & pa=$!
            fi
            sa=0; sb=0
            wait "$pa" || sa=$?
            wait "$pb" || sb=$?
            for s in "$sa:$a" "$sb:$b"; do
                case "${s%%:*}" in
                    0) ;;
                    3) run_failed=1 ;;  # results written; lost messages show in the report
                    *) cat "${s#*:}.log" >&2
                       echo "run failed (exit ${s%%:*}): ${s#*:}" >&2
                       exit "${s%%:*}" ;;
                esac
            done
            echo "   pair $i $t done" >&2
        done
    done
    echo "== judging pairs" >&2
    local status=0
    "$cand_bin" compare --paired "$OUT/base" "$OUT/candidate" --out "$OUT/compare" --quiet \
        ${COMPARE_ARGS[@]+"${COMPARE_ARGS[@]}"} || status=$?
    publish_report "$OUT/compare/report.md"
    [[ "$status" != 0 ]] && exit "$status"
    [[ "$run_failed" == 1 ]] && exit 3
    exit 0
}

if [[ -n "$BASE_REF" ]]; then
    paired
fi

echo "== building transport-bench (release)" >&2
cargo build --release --locked -q -p transport-bench
BIN=target/release/transport-bench

if [[ "$REFRESH" == 1 ]]; then
    # Replace the baseline with a fresh run of the same scenario. Commit the result together
    # with the change that justifies it (see results/baseline/README.md).
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"; cleanup' EXIT
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
advisory=(--advisory-if-other-machine)
[[ "$STRICT" == 1 ]] && advisory=()
compare_status=0
"$BIN" compare "$BASELINE" "$OUT/candidate" --out "$OUT/compare" --quiet "${advisory[@]}" \
    ${COMPARE_ARGS[@]+"${COMPARE_ARGS[@]}"} || compare_status=$?

if [[ -f "$OUT/compare/report.md" && "$run_status" == 3 ]]; then
    # A failed run still produced results (lost messages show up in the report); say so
    # at the top, where the reader looks first.
    { printf '> ❗ The candidate run reported failures (exit 3); see the lost-messages rows.\n\n'
      cat "$OUT/compare/report.md"; } >"$OUT/compare/report.tmp"
    mv "$OUT/compare/report.tmp" "$OUT/compare/report.md"
fi
publish_report "$OUT/compare/report.md"

if [[ "$compare_status" != 0 ]]; then
    exit "$compare_status"
fi
exit "$run_status"
