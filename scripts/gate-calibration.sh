#!/usr/bin/env bash
# Calibrates the paired regression gate: runs `scripts/ci-regression.sh --base HEAD` RUNS times
# on one unchanged commit (every regression it reports is a false alarm) and RUNS times for
# each planted regression (every run that exits 4 is a detection), then prints a table.
#
#   scripts/gate-calibration.sh [--runs N] [--out DIR]
#   PLANTS="cpu" SPIN=30% scripts/gate-calibration.sh --out DIR   (a subset, another size)
#   scripts/gate-calibration.sh --rejudge DIR [-- COMPARE_ARGS...]
# --rejudge runs nothing: it judges the pairs an earlier calibration kept in DIR again (e.g.
# with `-- --gate-threshold server-cpu=5%`) and prints the same table.
#
# The plants, applied to the candidate side only:
#   linger  `[transport.pull-log] linger = "1ms"` (a scenario override)
#   cpu     the websocket server burns SPIN more CPU per delivered message (default 20%: a share
#           of its own measured CPU per delivery; a plain number is fixed nanoseconds instead)
#   bytes   every message carries 50 bytes beyond its payload (overhead +50 per hop)
# The cpu and bytes plants are test-only knobs (transports/core/src/test_knobs.rs) that exist
# only in a build with `--features test-knobs`; this script builds both sides that way.
# Gate runs rotate through the plants (none, linger, cpu, bytes, none, …) so a change in the
# machine's load over the hour falls on all of them alike.
#
# Outputs in DIR (default target/gate-calibration): one folder per gate run with its
# compare/ report and the runs' summary.json files, and table.md (the table printed last).
# Takes RUNS × 4 gate runs of about 65 s each on a 2-core machine, plus the builds.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=10
OUT=target/gate-calibration
SPIN="${SPIN:-20%}"
REJUDGE=""
COMPARE_ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --rejudge) REJUDGE="$2"; shift 2 ;;
        --) shift; COMPARE_ARGS=("$@"); break ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$RUNS" =~ ^[0-9]+$ && "$RUNS" -ge 1 ]] || { echo "--runs must be a positive number" >&2; exit 2; }

# What a gate run flagged, as `transport:metric` words, from its verdicts.json.
flagged_in() {
    python3 - "$1" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
print(" ".join(f"{r['transport']}:{m['metric']}" for r in v["runs"] for m in r["metrics"]
               if m["gates"] and m["verdict"] == "regressed"))
EOF
}

declare -A caught flagged seconds runs

# table PLANT...: the summary table of what the arrays above hold.
table() {
    echo "| plant | gate runs | exit 4 (regression) | rate | seconds per gate run | flagged (transport:metric × runs) |"
    echo "|---|---:|---:|---:|---:|---|"
    local p counts label
    for p in "$@"; do
        counts="$(tr ' ' '\n' <<<"${flagged[$p]}" | { grep -v '^$' || true; } | sort | uniq -c |
                  awk '{printf "%s%s ×%s", sep, $2, $1; sep=", "}')"
        label="$p"
        [[ "$p" == none ]] && label="none (false alarms)"
        [[ "$p" == cpu ]] && label="cpu (websocket +$SPIN CPU/msg)"
        echo "| $label | ${runs[$p]} | ${caught[$p]} | ${caught[$p]}/${runs[$p]} | ${seconds[$p]} | ${counts:-–} |"
    done
}

if [[ -n "$REJUDGE" ]]; then
    # Judge the kept pairs again with COMPARE_ARGS; nothing runs. The binary is the one the
    # calibration kept, or GATE_BIN.
    bin="${GATE_BIN:-$REJUDGE/transport-bench}"
    [[ -x "$bin" ]] || { echo "no binary at $bin (set GATE_BIN)" >&2; exit 2; }
    found=()
    for dir in "$REJUDGE"/*-[0-9][0-9]/; do
        dir="${dir%/}"
        [[ -d "$dir/base" && -d "$dir/candidate" ]] || continue
        p="$(basename "$dir")"
        p="${p%-*}"
        if [[ -z "${runs[$p]:-}" ]]; then
            runs[$p]=0; caught[$p]=0; flagged[$p]=""; seconds[$p]="–"; found+=("$p")
        fi
        status=0
        "$bin" compare --paired "$dir/base" "$dir/candidate" --out "$dir/rejudged" --quiet \
            ${COMPARE_ARGS[@]+"${COMPARE_ARGS[@]}"} 2>/dev/null || status=$?
        runs[$p]=$((runs[$p] + 1))
        [[ "$status" == 4 ]] && caught[$p]=$((caught[$p] + 1))
        flagged[$p]="${flagged[$p]} $(flagged_in "$dir/rejudged/verdicts.json")"
    done
    table "${found[@]}"
    exit 0
fi

# BASE: the unchanged commit both sides are built from (default HEAD; the candidate is this
# working tree, so give the commit it is at to reuse a cached base build).
base="$(git rev-parse --verify "${BASE:-HEAD}^{commit}")"
export GATE_FEATURES=test-knobs
echo "== building the candidate once (release, test-knobs)" >&2
cargo build --release --locked -q -p transport-bench --features test-knobs
rm -rf "$OUT"
mkdir -p "$OUT"
cp target/release/transport-bench "$OUT/transport-bench"
export GATE_CANDIDATE_BIN="$PWD/$OUT/transport-bench"

scenario="${GATE_SCENARIO:-scenarios/gate.toml}"
{ cat "$scenario"; printf '\n[transport.pull-log]\nlinger = "1ms"\n'; } >"$OUT/gate-linger.toml"

read -r -a plants <<<"${PLANTS:-none linger cpu bytes}"
for p in "${plants[@]}"; do
    [[ "$p" =~ ^(none|linger|cpu|bytes)$ ]] || { echo "unknown plant $p (none, linger, cpu, bytes)" >&2; exit 2; }
    caught[$p]=0; flagged[$p]=""; seconds[$p]=0; runs[$p]=$RUNS
done

gate() {
    local plant="$1" out="$2"
    case "$plant" in
        none) scripts/ci-regression.sh --base "$base" --out "$out" ;;
        linger) CANDIDATE_SCENARIO="$OUT/gate-linger.toml" \
                scripts/ci-regression.sh --base "$base" --out "$out" ;;
        cpu) CANDIDATE_ENV="TRANSPORT_BENCH_TEST_SPIN_NS=websocket:$SPIN" \
             scripts/ci-regression.sh --base "$base" --out "$out" ;;
        bytes) CANDIDATE_ENV="TRANSPORT_BENCH_TEST_PAD_BYTES=50" \
               scripts/ci-regression.sh --base "$base" --out "$out" ;;
    esac
}

for ((i = 1; i <= RUNS; i++)); do
    for p in "${plants[@]}"; do
        out="$OUT/$p-$(printf '%02d' "$i")"
        start=$SECONDS
        status=0
        gate "$p" "$out" >"$out.log" 2>&1 || status=$?
        took=$((SECONDS - start))
        seconds[$p]=$((seconds[$p] + took))
        what=""
        [[ -f "$out/compare/verdicts.json" ]] && what="$(flagged_in "$out/compare/verdicts.json")"
        [[ "$status" == 4 ]] && caught[$p]=$((caught[$p] + 1))
        flagged[$p]="${flagged[$p]} $what"
        echo "run $i $p: exit $status in ${took}s ${what:+(flagged: $what)}" >&2
        if [[ "$status" != 0 && "$status" != 4 ]]; then
            tail -20 "$out.log" >&2
        fi
        # Keep the summaries (to re-judge) and the reports; drop charts and histograms.
        find "$out" \( -name '*.png' -o -name runs -o -name bin \) -prune -exec rm -rf {} +
    done
done

for p in "${plants[@]}"; do seconds[$p]=$((seconds[$p] / RUNS)); done
table "${plants[@]}" | tee "$OUT/table.md"
