//! The report's "Option sweeps" section: for each transport whose `[transport.<name>]` table
//! swept a knob (`[transport.nats-pull] batch = [1, 10, 100]`), one table of its runs by knob
//! value — msg/s, p50/p99, overhead and pull bytes per message, messages per delivery unit and
//! what limited the run — so a knob's effect reads down one column instead of across the
//! report's per-variant sections. Empty without sweeps.

use std::fmt::Write as _;

use crate::registry::TransportKind;
use crate::results::{RunResult, Summary};
use crate::scenario::options::is_run_tag;
use crate::text;

use super::tables::cell;

/// What prints where a figure could not be measured: never 0.
pub(crate) const UNAVAILABLE: &str = "unavailable";

/// The swept knobs of `r` (its tags that name no matrix dimension), sorted; empty for a run
/// whose transport swept nothing.
fn knobs(r: &RunResult) -> Vec<&str> {
    if r.transport_options.is_none() {
        return Vec::new();
    }
    r.tags
        .keys()
        .map(String::as_str)
        .filter(|k| !is_run_tag(k))
        .collect()
}

/// The matrix's tags (knobs and transport aside) that differ between `runs`.
fn varying(runs: &[&RunResult]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for r in runs {
        for k in r.tags.keys() {
            let dimension = is_run_tag(k) && k != "transport";
            let varies = runs.iter().any(|o| o.tags.get(k) != r.tags.get(k));
            if dimension && varies && !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    keys.sort();
    keys
}

/// Latency percentile `ns` of `r`, or unavailable when nothing was measured.
pub(crate) fn latency(r: &RunResult, ns: u64) -> String {
    if r.latency.latency_ns.count == 0 {
        UNAVAILABLE.to_owned()
    } else {
        text::nanos(ns as f64)
    }
}

/// A per-delivered-message byte figure, unavailable when nothing was delivered.
pub(crate) fn per_message(r: &RunResult, bytes: f64) -> String {
    if r.delivery.delivered == 0 {
        UNAVAILABLE.to_owned()
    } else {
        text::sig3(bytes)
    }
}

/// Why a run's figures need care, if they do.
pub(crate) fn flags(r: &RunResult) -> Vec<String> {
    let mut out = Vec::new();
    if !r.status.is_ok() {
        out.push(r.status.to_string());
    }
    if !r.load.valid {
        out.push("INVALID".to_owned());
    }
    if r.load.saturated {
        out.push("saturated".to_owned());
    }
    if r.delivery.lost > 0 {
        out.push(format!("{} lost", r.delivery.lost));
    }
    out
}

/// One transport's sweep table.
fn table(kind: TransportKind, runs: &[&RunResult]) -> String {
    let knobs: Vec<&str> = runs.first().map(|r| knobs(r)).unwrap_or_default();
    let dims = varying(runs);
    let reps = runs.iter().any(|r| r.repetition > 0);
    let mut head: Vec<String> = knobs.iter().map(|k| format!("`{k}`")).collect();
    head.extend(dims.iter().cloned());
    if reps {
        head.push("rep".into());
    }
    let figures = [
        "msg/s",
        "p50",
        "p99",
        "overhead B/msg",
        "pull B/msg",
        "msgs/unit",
        "limited by",
        "notes",
    ];
    let mut out = format!(
        "\n### {kind}\n\n| {} | {} |\n",
        head.join(" | "),
        figures.join(" | ")
    );
    let _ = writeln!(out, "|{}", "---|".repeat(head.len() + figures.len()));
    for r in runs {
        let mut row: Vec<String> = knobs
            .iter()
            .copied()
            .chain(dims.iter().map(String::as_str))
            .map(|k| r.tags.get(k).map_or(UNAVAILABLE.to_owned(), |v| cell(v)))
            .collect();
        if reps {
            row.push(r.repetition.to_string());
        }
        let units = &r.traffic.messages_per_delivery_unit;
        let wire = &r.traffic.wire;
        row.extend([
            text::count(r.latency.throughput.msgs_per_sec),
            latency(r, r.latency.latency_ns.p50),
            latency(r, r.latency.latency_ns.p99),
            per_message(r, wire.overhead_bytes_per_msg),
            per_message(r, wire.subscriber_c2s_bytes_per_delivered),
            if units.count > 0 {
                text::sig3(units.mean)
            } else {
                UNAVAILABLE.to_owned()
            },
            r.limited_by
                .map_or(UNAVAILABLE.to_owned(), |l| l.name().to_owned()),
            cell(&flags(r).join(", ")),
        ]);
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

/// The section, or nothing when no run swept a knob.
pub fn markdown(summary: &Summary) -> String {
    let mut kinds: Vec<TransportKind> = Vec::new();
    for r in summary.runs.iter().filter(|r| !knobs(r).is_empty()) {
        if !kinds.contains(&r.transport) {
            kinds.push(r.transport);
        }
    }
    if kinds.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n## Option sweeps\n\n");
    out.push_str(
        "Runs of each transport whose `[transport.<name>]` table swept a knob, one row per run \
         in run order (each run's own options are its `transport_options` in `summary.json`). \
         Overhead counts every non-payload byte per delivered message, both hops; pull B/msg is \
         what subscribers sent per delivered message (poll and fetch requests, acks: zero for \
         pure push); msgs/unit is messages per delivery unit (fetch, read, response). \
         \"limited by\" says what set the figure: `server` or `load-generator` cores, the \
         closed-loop `window`, or the `offered-rate` an open loop kept.\n",
    );
    for kind in kinds {
        let runs: Vec<&RunResult> = summary
            .runs
            .iter()
            .filter(|r| r.transport == kind && !knobs(r).is_empty())
            .collect();
        out.push_str(&table(kind, &runs));
    }
    out
}
