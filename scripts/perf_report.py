#!/usr/bin/env python3
"""The report of scripts/perf.sh: its paired runs as ratios, and issue 17's targets checked.

Usage: perf_report.py RUNS REPEAT BASE [--bench DIR] [--repeatability SUMMARY] [--strict]

RUNS holds PAIR-SIDE/{all,ws-coalesced}/summary.json for PAIR 1..REPEAT and SIDE base|cand.
--bench names criterion's folder of the harness_cost bench; --repeatability the summary.json of
`run scenarios/perf-repeat.toml --repeat N`. A figure whose input is missing prints "–" and its
target "not measured": never met, never zero.

Also prints issue 33's table (per transport: closed-loop ceiling, ratio to raw-tcp, server and
load-generator CPU per delivered message, limited_by; base | candidate) and its targets. Exit
code 0; with --strict, 4 when any target line is NOT MET (a line "not measured" is listed, not
gated: --quick skips inputs some lines need).
"""
import argparse
import json
import statistics

UNIT = 64  # messages per delivery unit in the harness_cost bench's group below
BENCH_GROUP = "harness_per_message_in_units_of_64"
TARGETS_MSGS = [  # (transport, at least msg/s closed loop), from issue 17
    ("raw-tcp", 5e6),
    ("websocket", 600e3),
    ("websocket (coalesced)", 1.5e6),
    ("pull-log", 3e6),
    ("long-poll", 2e6),
]
MAX_HARNESS_NS = 50.0
MAX_CV_PCT = 5.0
MAX_FLOOR_P50_VS_BASE = 1.05
# Issue 33: closed loop at least this share of raw-tcp's, in the same run.
MIN_VS_FLOOR = [("websocket", 0.5), ("sse", 0.5), ("long-poll", 0.5), ("pull-log", 0.7)]
MAX_LOAD_CPU_VS_FLOOR = 2.0  # every transport's load-generator CPU per delivered msg
MAX_SERVER_CPU_VS_FLOOR = [("websocket", 2.5), ("sse", 2.5)]
MAX_SSE_P50_VS_FLOOR = 1.5
MAX_SSE_P99_VS_FLOOR = 2.0
STRICT_EXIT = 4


def load_side(runs, pair, side):
    """{(transport, 'max'|'1000'): run} for one pair and side."""
    out = {}
    for part, suffix in (("all", ""), ("ws-coalesced", " (coalesced)")):
        with open(f"{runs}/{pair}-{side}/{part}/summary.json") as f:
            summary = json.load(f)
        for r in summary["runs"]:
            out[(r["transport"] + suffix, rate_key(r))] = r
    return out


def rate_key(run):
    return "max" if run["offered_rate"] is None else str(int(run["offered_rate"]))


def tput(r):
    return r["throughput"]["msgs_per_sec"] if r and r["status"] == "ok" else None


def p50(r):
    if not r or r["status"] != "ok" or not r["latency_ns"]["count"]:
        return None
    return r["latency_ns"]["p50"]


def ratio(a, b):
    return a / b if a is not None and b else None


def present(xs):
    return [x for x in xs if x is not None]


def spread(xs):
    xs = present(xs)
    if not xs:
        return "–"
    return f"{statistics.median(xs):.2f}× ({min(xs):.2f}..{max(xs):.2f})"


def cv_pct(xs):
    """Coefficient of variation in percent, or None with fewer than two figures."""
    xs = present(xs)
    if len(xs) < 2 or not statistics.mean(xs):
        return None
    return 100 * statistics.stdev(xs) / statistics.mean(xs)


def fmt(x, form):
    return "–" if x is None else form.format(x)


def mega(x):
    return None if x is None else x / 1e6


def micro(ns):
    return None if ns is None else ns / 1e3


def median(xs):
    xs = present(xs)
    return statistics.median(xs) if xs else None


def transport_names(pairs):
    return sorted({k[0] for _, c in pairs for k in c}, key=lambda n: (n != "raw-tcp", n))


def print_table(pairs, base):
    print(f"closed loop (1→1, 100 B) and p50 at 1K msg/s; {len(pairs)} pairs, base = {base}")
    print(f"{'transport':26} {'msg/s':>10} {'CV':>6} {'vs floor':>20} {'vs base':>20}"
          f" {'p50 1K':>9} {'vs floor':>20} {'vs base':>20}")
    for n in transport_names(pairs):
        tputs = [tput(c.get((n, "max"))) for _, c in pairs]
        p50s = [p50(c.get((n, "1000"))) for _, c in pairs]
        floor_t = [ratio(tput(c.get((n, "max"))), tput(c.get(("raw-tcp", "max")))) for _, c in pairs]
        floor_p = [ratio(p50(c.get((n, "1000"))), p50(c.get(("raw-tcp", "1000")))) for _, c in pairs]
        base_t = [ratio(tput(c.get((n, "max"))), tput(b.get((n, "max")))) for b, c in pairs]
        base_p = [ratio(p50(c.get((n, "1000"))), p50(b.get((n, "1000")))) for b, c in pairs]
        t = fmt(mega(median(tputs)), "{:.2f}M")
        p = fmt(micro(median(p50s)), "{:.0f} µs")
        cv = fmt(cv_pct(tputs), "{:.1f}%")
        print(f"{n:26} {t:>10} {cv:>6} {spread(floor_t):>20} {spread(base_t):>20}"
              f" {p:>9} {spread(floor_p):>20} {spread(base_p):>20}")
    print("ratios: median over pairs (min..max); vs floor within the same run, vs base pair by"
          " pair; a failed run counts as –; CV: the candidate's closed-loop msg/s over its repeats")


def cpu_ns(r, side):
    """CPU ns per delivered message of `side` (server or load), or None when not measured."""
    if not r or r["status"] != "ok":
        return None
    figures = r.get("resources", {}).get(side, {})
    return figures.get("cpu_ns_per_delivered") if figures.get("available") else None


def p99(r):
    return None if p50(r) is None else r["latency_ns"]["p99"]


def limits_cell(runs):
    """The commonest limited_by over `runs` with its count, e.g. `server 4/5`."""
    seen = [r.get("limited_by") or "–" for r in runs if r]
    if not seen:
        return "–"
    top = max(sorted(set(seen)), key=seen.count)
    return f"{top} {seen.count(top)}/{len(runs)}"


def issue33_side(pairs, n, pick):
    """One side's (ceiling, × raw-tcp, server ns, load ns, limited_by) of transport `n`."""
    runs = [pick(pair).get((n, "max")) for pair in pairs]
    floors = [pick(pair).get(("raw-tcp", "max")) for pair in pairs]
    return (
        fmt(mega(median([tput(r) for r in runs])), "{:.2f}M"),
        fmt(median([ratio(tput(r), tput(f)) for r, f in zip(runs, floors)]), "{:.2f}"),
        fmt(median([cpu_ns(r, "server") for r in runs]), "{:.0f}"),
        fmt(median([cpu_ns(r, "load") for r in runs]), "{:.0f}"),
        limits_cell(runs),
    )


def print_issue33_table(pairs):
    heads = ("ceiling msg/s", "× raw-tcp", "server ns/msg", "load ns/msg", "limited_by")
    widths = (17, 13, 15, 15, 40)
    print(f"\nissue 33: closed loop per transport, medians over {len(pairs)} runs per side;"
          " each cell base | candidate; CPU per delivered message")
    print(f"{'transport':26} " + " ".join(f"{h:>{w}}" for h, w in zip(heads, widths)))
    for n in transport_names(pairs):
        base = issue33_side(pairs, n, lambda p: p[0])
        cand = issue33_side(pairs, n, lambda p: p[1])
        cells = [f"{b} | {c}" for b, c in zip(base, cand)]
        print(f"{n:26} " + " ".join(f"{x:>{w}}" for x, w in zip(cells, widths)))
    print("limited_by: the commonest verdict over the runs and how many had it (load-generator:"
          " the ceiling is a lower bound for the transport)")


def per_run_ratios(pairs, n, rate, figure):
    """Candidate's figure of `n` over raw-tcp's, run by run."""
    return [ratio(figure(c.get((n, rate))), figure(c.get(("raw-tcp", rate)))) for _, c in pairs]


def bound_row(label, value, ok_if, form="{:.2f}×"):
    return (label, fmt(value, form), None if value is None else ok_if(value))


def issue33_rows(pairs):
    """(target, measured, met or None) for issue 33's targets that perf.toml measures."""
    rows = []
    for n, least in MIN_VS_FLOOR:
        m = median(per_run_ratios(pairs, n, "max", tput))
        rows.append(bound_row(f"{n} closed loop ≥ {least}× raw-tcp", m, lambda v, x=least: v >= x))
    names = [n for n in transport_names(pairs) if n != "raw-tcp"]
    worst = None
    for n in names:
        m = median(per_run_ratios(pairs, n, "max", lambda r: cpu_ns(r, "load")))
        if m is None:
            worst = None
            break
        worst = m if worst is None else max(worst, m)
    rows.append(bound_row(f"load CPU/msg ≤ {MAX_LOAD_CPU_VS_FLOOR:g}× raw-tcp's, every transport",
                          worst, lambda v: v <= MAX_LOAD_CPU_VS_FLOOR))
    for n, most in MAX_SERVER_CPU_VS_FLOOR:
        m = median(per_run_ratios(pairs, n, "max", lambda r: cpu_ns(r, "server")))
        rows.append(bound_row(f"{n} server CPU/msg ≤ {most}× raw-tcp's", m, lambda v, x=most: v <= x))
    for label, figure in (("p50", p50), ("p99", p99)):
        lowest = [lowest_is_floor(c, figure) for _, c in pairs]
        known = present(lowest)
        rows.append((f"raw-tcp lowest {label} at 1K msg/s, same run",
                     f"{sum(known)}/{len(pairs)} runs",
                     None if len(known) < len(pairs) else all(known)))
    for label, figure, most in (("p50", p50, MAX_SSE_P50_VS_FLOOR), ("p99", p99, MAX_SSE_P99_VS_FLOOR)):
        m = median(per_run_ratios(pairs, "sse", "1000", figure))
        rows.append(bound_row(f"sse {label} at 1K ≤ {most}× raw-tcp's", m, lambda v, x=most: v <= x))
    return rows


def lowest_is_floor(runs, figure):
    """Whether raw-tcp's figure at 1K is the lowest of every transport's, or None if one is missing."""
    values = {n: figure(r) for (n, rate), r in runs.items() if rate == "1000"}
    if "raw-tcp" not in values or None in values.values():
        return None
    return all(values["raw-tcp"] <= v for v in values.values())


def flagged_runs(pairs):
    flags = set()
    for i, (b, c) in enumerate(pairs, 1):
        for side, runs in (("base", b), ("cand", c)):
            for r in runs.values():
                if r["status"] != "ok" or not r.get("valid", True):
                    why = "" if r.get("valid", True) else f", invalid: {r.get('invalid_reason')}"
                    flags.add(f"  pair {i} {side} {r['name']}: status {r['status']}{why}")
    return sorted(flags)


def bench_ns(bench_dir, name):
    """Median ns per message of one harness_cost benchmark in units of 64, or None."""
    if not bench_dir:
        return None
    try:
        with open(f"{bench_dir}/{BENCH_GROUP}/{name}/new/estimates.json") as f:
            return json.load(f)["median"]["point_estimate"] / UNIT
    except (OSError, KeyError, ValueError):
        return None


def repeat_cvs(path):
    """{transport: CV %} of closed-loop msg/s over a perf-repeat run's repetitions."""
    if not path:
        return {}
    with open(path) as f:
        runs = json.load(f)["runs"]
    by = {}
    for r in runs:
        if r["offered_rate"] is None:
            by.setdefault(r["transport"], []).append(tput(r))
    return {t: cv_pct(xs) if None not in xs else None for t, xs in by.items()}


def verdict(ok):
    return "not measured" if ok is None else ("met" if ok else "NOT MET")


def target_rows(pairs, bench_dir, cvs):
    """(target, measured, met or None[, detail]) for each of issue 17's targets."""
    rows = []
    for name, least in TARGETS_MSGS:
        m = median([tput(c.get((name, "max"))) for _, c in pairs])
        rows.append((f"{name} ≥ {least / 1e6:g}M msg/s", fmt(mega(m), "{:.2f}M"),
                     None if m is None else m >= least))
    rows.append(floor_above_all(pairs))
    floor_p50 = median([ratio(p50(c.get(("raw-tcp", "1000"))), p50(b.get(("raw-tcp", "1000"))))
                        for b, c in pairs])
    rows.append(("raw-tcp p50 at 1K msg/s ≤ 1.05× base", fmt(floor_p50, "{:.2f}×"),
                 None if floor_p50 is None else floor_p50 <= MAX_FLOOR_P50_VS_BASE))
    rows += harness_rows(bench_dir)
    rows.append(cv_row(cvs))
    return rows


def floor_above_all(pairs):
    held = []
    for _, c in pairs:
        floor = tput(c.get(("raw-tcp", "max")))
        others = [tput(r) for (n, rate), r in c.items() if rate == "max" and n != "raw-tcp"]
        if floor is not None and None not in others:
            held.append(all(floor >= o for o in others))
    ok = None if not held else all(held)
    return ("raw-tcp ≥ every transport, same run", f"{sum(held)}/{len(pairs)} pairs", ok)


def harness_rows(bench_dir):
    rows = []
    for label, stamp, receive in (
        ("closed loop", "stamp_100B", "receive_audit_record"),
        ("open loop", "stamp_100B_open_loop", "receive_audit_record_open_loop_stamps"),
    ):
        s, r = bench_ns(bench_dir, stamp), bench_ns(bench_dir, receive)
        total = None if s is None or r is None else s + r
        rows.append((f"harness stamp + receive ≤ 50 ns/msg ({label})",
                     "–" if total is None else f"{total:.1f} ns ({s:.1f} + {r:.1f})",
                     None if total is None else total <= MAX_HARNESS_NS))
    return rows


def cv_row(cvs):
    """The worst transport's CV judges; every transport's is shown beneath."""
    if not cvs or None in cvs.values():
        return ("throughput CV ≤ 5%, every transport", "–", None)
    worst = max(cvs, key=cvs.get)
    each = ", ".join(f"{t} {v:.1f}%" for t, v in sorted(cvs.items()))
    return ("throughput CV ≤ 5%, every transport", f"worst {worst} {cvs[worst]:.1f}%",
            cvs[worst] <= MAX_CV_PCT, f"each: {each}")


def machine(runs):
    """One line naming the machine the candidate ran on, from its summary's environment."""
    with open(f"{runs}/1-cand/all/summary.json") as f:
        env = json.load(f)["environment"]
    return f"{env['cpu_model']}, {env['cpu_count']} CPUs, kernel {env['kernel']}"


def print_targets(rows, where, issue="17"):
    print(f"\nissue {issue}'s targets on this machine ({where}); a figure not measured is not met:")
    for target, measured, ok, *detail in rows:
        print(f"  {target:52} {measured:36} {verdict(ok)}")
        for d in detail:
            print(f"      {d}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs")
    ap.add_argument("repeat", type=int)
    ap.add_argument("base")
    ap.add_argument("--bench", help="criterion's folder holding the harness_cost results")
    ap.add_argument("--repeatability", help="summary.json of perf-repeat.toml --repeat N")
    ap.add_argument("--strict", action="store_true", help="exit 4 when a target is NOT MET")
    a = ap.parse_args()
    pairs = [(load_side(a.runs, i, "base"), load_side(a.runs, i, "cand"))
             for i in range(1, a.repeat + 1)]
    print_table(pairs, a.base)
    flags = flagged_runs(pairs)
    if flags:
        print("runs not ok or invalid (their figures are shown where measured; read with care):")
        print("\n".join(flags))
    print_issue33_table(pairs)
    rows17 = target_rows(pairs, a.bench, repeat_cvs(a.repeatability))
    rows33 = issue33_rows(pairs)
    print_targets(rows17, machine(a.runs))
    print_targets(rows33, machine(a.runs), issue="33")
    missed = [r[0] for r in rows17 + rows33 if r[2] is False]
    unmeasured = sum(1 for r in rows17 + rows33 if r[2] is None)
    if a.strict:
        print(f"\n--strict: {len(missed)} NOT MET, {unmeasured} not measured (not gated)")
        return STRICT_EXIT if missed else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
