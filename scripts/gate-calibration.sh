#!/usr/bin/env bash
# Calibrates the paired regression gate: runs `scripts/ci-regression.sh --base HEAD` RUNS times
# on one unchanged commit (every regression it reports is a false alarm) and RUNS times for
# each planted regression (every run that exits 4 is a detection), then prints a table.
#
#   scripts/gate-calibration.sh [--runs N] [--out DIR]
#
# The plants, applied to the candidate side only:
#   linger  `[transport.pull-log] linger = "1ms"` (a scenario override)
#   cpu     the websocket server busy-waits SPIN_NS per delivered message (default 7000 ns,
#           about 20% of its CPU per message in the gate scenario on a 2-vCPU VM)
#   bytes   every message carries 50 bytes beyond its payload (overhead +50 per hop)
# The cpu and bytes plants are test-only knobs (transports/core/src/test_knobs.rs) that exist
# only in a build with `--features test-knobs`; this script builds both sides that way.
# Gate runs rotate through the plants (none, linger, cpu, bytes, none, …) so a change in the
# machine's load over the hour falls on all of them alike.
#
# Outputs in DIR (default target/gate-calibration): one folder per gate run with its
# compare/ report and the runs' summary.json files, and table.md (the table printed last).
# Takes RUNS × 4 gate runs of about 75 s each on a 2-core machine.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=10
OUT=target/gate-calibration
SPIN_NS="${SPIN_NS:-7000}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$RUNS" =~ ^[0-9]+$ && "$RUNS" -ge 1 ]] || { echo "--runs must be a positive number" >&2; exit 2; }

base="$(git rev-parse HEAD)"
export GATE_FEATURES=test-knobs
echo "== building the candidate once (release, test-knobs)" >&2
cargo build --release --locked -q -p transport-bench --features test-knobs
rm -rf "$OUT"
mkdir -p "$OUT"
cp target/release/transport-bench "$OUT/transport-bench"
export GATE_CANDIDATE_BIN="$PWD/$OUT/transport-bench"

scenario="${GATE_SCENARIO:-scenarios/gate.toml}"
{ cat "$scenario"; printf '\n[transport.pull-log]\nlinger = "1ms"\n'; } >"$OUT/gate-linger.toml"

plants=(none linger cpu bytes)
declare -A caught flagged seconds
for p in "${plants[@]}"; do caught[$p]=0; flagged[$p]=""; seconds[$p]=0; done

gate() {
    local plant="$1" out="$2"
    case "$plant" in
        none) scripts/ci-regression.sh --base "$base" --out "$out" ;;
        linger) CANDIDATE_SCENARIO="$OUT/gate-linger.toml" \
                scripts/ci-regression.sh --base "$base" --out "$out" ;;
        cpu) CANDIDATE_ENV="TRANSPORT_BENCH_TEST_SPIN_NS=websocket:$SPIN_NS" \
             scripts/ci-regression.sh --base "$base" --out "$out" ;;
        bytes) CANDIDATE_ENV="TRANSPORT_BENCH_TEST_PAD_BYTES=50" \
               scripts/ci-regression.sh --base "$base" --out "$out" ;;
    esac
}

# What a gate run flagged, as `transport:metric` words, from its verdicts.json.
flagged_in() {
    python3 - "$1" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
print(" ".join(f"{r['transport']}:{m['metric']}" for r in v["runs"] for m in r["metrics"]
               if m["gates"] and m["verdict"] == "regressed"))
EOF
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

{
    echo "| plant | gate runs | exit 4 (regression) | rate | seconds per gate run | flagged (transport:metric × runs) |"
    echo "|---|---:|---:|---:|---:|---|"
    for p in "${plants[@]}"; do
        counts="$(tr ' ' '\n' <<<"${flagged[$p]}" | grep -v '^$' | sort | uniq -c |
                  awk '{printf "%s%s ×%s", sep, $2, $1; sep=", "}')"
        label="$p"
        [[ "$p" == none ]] && label="none (false alarms)"
        echo "| $label | $RUNS | ${caught[$p]} | ${caught[$p]}/$RUNS | $((seconds[$p] / RUNS)) | ${counts:-–} |"
    done
} | tee "$OUT/table.md"
