#!/usr/bin/env bash
# The figures of issue 17 in one command: every transport's closed-loop ceiling and its p50 at
# 1K msg/s (scenarios/perf.toml, plus coalesced WebSocket from scenarios/perf-ws-coalesced.toml),
# each as a ratio to the raw-TCP floor of the same run and to a base ref (the previous main),
# paired: base and candidate binaries run interleaved (A B A B ...) in the same time window and
# are compared pair by pair, so machine noise that drifts over minutes hits both alike.
#
# Usage:
#   scripts/perf.sh [--base REF] [--repeat N] [--out DIR]
#
#   --base REF   git ref to compare with (default: main); built in a git worktree under DIR
#   --repeat N   A/B pairs (default 5)
#   --out DIR    working folder (default target/perf)
#
# Prints one row per transport: candidate median msg/s (closed loop) with its coefficient of
# variation over the repeats, and p50 (1K msg/s), each
# as a ratio to the same run's raw-TCP floor and to the paired base run (median over pairs, with
# min..max). Every results folder stays under DIR/runs for `transport-bench report`/`compare`.
# Exit code: 0 ok, 2 bad input, 3 a build or a run failed. About 40 s per pair on a 2-core
# machine once both release builds are cached.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
BASE=main
REPEAT=5
OUT="target/perf"

while [[ $# -gt 0 ]]; do
    case "$1" in
        --base) BASE="$2"; shift 2 ;;
        --repeat) REPEAT="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
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
for ((i = 1; i <= REPEAT; i++)); do
    echo "== pair $i/$REPEAT" >&2
    # Alternate which side goes first, so neither always runs on a warmer or busier machine.
    if ((i % 2)); then run base "$i"; run cand "$i"; else run cand "$i"; run base "$i"; fi
done

python3 - "$OUT/runs" "$REPEAT" "$BASE" <<'PY'
import json, statistics, sys
runs, repeat, base = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def load(pair, side):
    """{(transport, 'max'|'1000'): run} for one pair and side."""
    out = {}
    for part, suffix in (("all", ""), ("ws-coalesced", " (coalesced)")):
        s = json.load(open(f"{runs}/{pair}-{side}/{part}/summary.json"))
        for r in s["runs"]:
            rate = "max" if r["offered_rate"] is None else str(int(r["offered_rate"]))
            out[(r["transport"] + suffix, rate)] = r
    return out

def tput(r):
    return r["throughput"]["msgs_per_sec"] if r and r["status"] == "ok" else None

def p50(r):
    if not r or r["status"] != "ok" or not r["latency_ns"]["count"]:
        return None
    return r["latency_ns"]["p50"]

pairs = [(load(i, "base"), load(i, "cand")) for i in range(1, repeat + 1)]
names = sorted({k[0] for _, c in pairs for k in c}, key=lambda n: (n != "raw-tcp", n))
flags = []

def summary(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    return f"{statistics.median(xs):.2f}× ({min(xs):.2f}..{max(xs):.2f})"

def ratio(a, b):
    return a / b if a is not None and b else None

print(f"closed loop (1→1, 100 B) and p50 at 1K msg/s; {repeat} pairs, base = {base}")
def cv(xs):
    """Coefficient of variation of the candidate's throughput over its repeats."""
    return (f"{100 * statistics.stdev(xs) / statistics.mean(xs):.1f}%"
            if len(xs) >= 2 and statistics.mean(xs) else "–")

print(f"{'transport':26} {'msg/s':>10} {'CV':>6} {'vs floor':>20} {'vs base':>20}"
      f" {'p50 1K':>9} {'vs floor':>20} {'vs base':>20}")
for n in names:
    cand_t = [tput(c.get((n, "max"))) for _, c in pairs]
    cand_p = [p50(c.get((n, "1000"))) for _, c in pairs]
    floor_t = [ratio(tput(c.get((n, "max"))), tput(c.get(("raw-tcp", "max")))) for _, c in pairs]
    floor_p = [ratio(p50(c.get((n, "1000"))), p50(c.get(("raw-tcp", "1000")))) for _, c in pairs]
    base_t = [ratio(tput(c.get((n, "max"))), tput(b.get((n, "max")))) for b, c in pairs]
    base_p = [ratio(p50(c.get((n, "1000"))), p50(b.get((n, "1000")))) for b, c in pairs]
    ok_t = [x for x in cand_t if x is not None]
    ok_p = [x for x in cand_p if x is not None]
    t = f"{statistics.median(ok_t) / 1e6:.2f}M" if ok_t else "–"
    p = f"{statistics.median(ok_p) / 1e3:.0f} µs" if ok_p else "–"
    print(f"{n:26} {t:>10} {cv(ok_t):>6} {summary(floor_t):>20} {summary(base_t):>20}"
          f" {p:>9} {summary(floor_p):>20} {summary(base_p):>20}")
    for side, i, r in [(s, i, run) for i, (b, c) in enumerate(pairs, 1)
                       for s, run in (("base", b.get((n, "max"))), ("cand", c.get((n, "max"))),
                                      ("base", b.get((n, "1000"))), ("cand", c.get((n, "1000"))))]:
        if r and (r["status"] != "ok" or not r.get("valid", True)):
            flags.append(f"  pair {i} {side} {r['name']}: status {r['status']}"
                         f"{'' if r.get('valid', True) else ', invalid: ' + str(r.get('invalid_reason'))}")
print("ratios: median over pairs (min..max); vs floor within the same run, vs base pair by pair;"
      " a failed run counts as –; CV: the candidate's closed-loop msg/s over its repeats")
if flags:
    print("runs not ok or invalid (their figures are shown where measured, but read them with care):")
    print("\n".join(sorted(set(flags))))
PY
echo "results: $OUT/runs" >&2
