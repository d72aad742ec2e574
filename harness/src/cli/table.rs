//! The comparison table printed after a run, and the one-line verdict per run.

use std::fmt::Write;

use crate::report::conditions::label;
use crate::results::summary::RunStatus;
use crate::results::{RunResult, Summary};
use crate::text::{Digits, nanos_with};

/// A latency as the table prints it: fixed decimals per unit, so a column's figures line up;
/// "–" when the run recorded no latency sample at all (nothing measured is not 0 ns).
fn latency(r: &RunResult, ns: u64) -> String {
    if r.latency.latency_ns.count == 0 {
        return "–".to_owned();
    }
    nanos_with(ns as f64, Digits::Fixed)
}

/// One line summarising a finished run.
pub fn one_line(r: &RunResult) -> String {
    let sat = match (r.load.valid, r.load.saturated) {
        (false, _) => " INVALID (load generator fell behind)",
        (true, true) => " SATURATED",
        (true, false) => "",
    };
    format!(
        "{:<7} {}  {:.0} msg/s  p50 {}  p99 {}  lost {}{sat}",
        r.status,
        r.name,
        r.latency.throughput.msgs_per_sec,
        latency(r, r.latency.latency_ns.p50),
        latency(r, r.latency.latency_ns.p99),
        r.delivery.lost
    )
}

/// The comparison table for a whole scenario.
pub fn render(s: &Summary) -> String {
    let header = [
        "run",
        "msgs/s",
        "MB/s",
        "p50",
        "p99",
        "p99.9",
        "max",
        "overhead B/msg",
        "srv CPU µs/msg",
        "srv KiB/sub",
        "lost",
        "dup",
        "reord",
        "status",
        "limited by",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for r in &s.runs {
        let name = label(s, r);
        let status = match (r.status, r.load.valid, r.load.saturated) {
            (RunStatus::Ok, false, _) => "INVALID".to_owned(),
            (RunStatus::Ok, true, false) => "ok".to_owned(),
            (RunStatus::Ok, true, true) => "saturated".to_owned(),
            (other, _, _) => other.to_string(),
        };
        rows.push(vec![
            name,
            format!("{:.0}", r.latency.throughput.msgs_per_sec),
            format!("{:.2}", r.latency.throughput.payload_bytes_per_sec / 1e6),
            latency(r, r.latency.latency_ns.p50),
            latency(r, r.latency.latency_ns.p99),
            latency(r, r.latency.latency_ns.p999),
            latency(r, r.latency.latency_ns.max),
            format!("{:.1}", r.traffic.wire.overhead_bytes_per_msg),
            or_dash(
                r.cost
                    .resources
                    .server
                    .cpu_ns_per_delivered
                    .map(|ns| ns / 1e3),
                2,
            ),
            or_dash(
                r.cost
                    .resources
                    .server
                    .rss_bytes_per_subscriber
                    .map(|b| b / 1024.0),
                1,
            ),
            r.delivery.lost.to_string(),
            r.delivery.duplicated.to_string(),
            r.delivery.reordered.to_string(),
            status,
            r.limited_by.map_or("–".to_owned(), |l| l.name().to_owned()),
        ]);
    }
    let mut out = aligned(&header, &rows);
    let _ = write!(
        out,
        "latency is measured from each message's intended send time (open loop); overhead counts both hops per delivered message; \
         srv columns: the server process's CPU per delivered message in the measured window and its memory per connected subscriber (– when the server shares the load generator's process); \
         limited by: what set the run's figures (load-generator: a lower bound for the transport; see limits.reason in summary.json)"
    );
    out
}

/// A figure with `decimals`, or "–" where it could not be measured (never a 0 that was not).
fn or_dash(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.decimals$}"))
}

/// Fault and idle-cost rows, when the scenario has any; empty otherwise.
pub fn conditions(s: &Summary) -> String {
    use crate::report::conditions::{FAULT_HEADER, IDLE_HEADER, fault_rows, idle_rows};
    let mut out = String::new();
    let faults: Vec<Vec<String>> = fault_rows(s).into_iter().map(Vec::from).collect();
    if !faults.is_empty() {
        out.push_str(
            "\nfaults (recovery: until every subscriber had a message sent after the fault)\n",
        );
        out.push_str(&aligned(&FAULT_HEADER, &faults));
    }
    let idle: Vec<Vec<String>> = idle_rows(s).into_iter().map(Vec::from).collect();
    if !idle.is_empty() {
        out.push_str("\ncost of staying connected, per subscriber per minute\n");
        out.push_str(&aligned(&IDLE_HEADER, &idle));
    }
    out
}

/// Columns padded to their widest cell: the first left-aligned, the rest right-aligned.
fn aligned(header: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(header.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}
