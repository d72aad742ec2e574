//! Markdown tables for the report: the environment and one row per run cell.

use std::fmt::Write as _;

use crate::charts::select::{RateKey, Variant};
use crate::results::Summary;
use crate::text;

/// Escapes text for a Markdown table cell.
pub fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The environment the results came from.
pub fn environment(summary: &Summary) -> String {
    let e = &summary.environment;
    let rows = [
        ("CPU", format!("{} × {}", e.cpu_model, e.cpu_count)),
        ("OS / kernel", format!("{} / {}", e.os, e.kernel)),
        ("Host", e.hostname.clone()),
        (
            "Runtime",
            format!(
                "tokio {}, {} worker threads",
                e.runtime_flavor, e.worker_threads
            ),
        ),
        (
            "Sockets",
            format!(
                "TCP_NODELAY {}",
                if e.socket.nodelay { "on" } else { "off" }
            ),
        ),
        (
            "Build",
            format!("{} ({}), {}", e.tool_version, e.profile, e.rustc),
        ),
        ("Commit", e.git_commit.clone()),
        ("Started", e.started_at.clone()),
    ];
    let mut out = String::from("| | |\n|---|---|\n");
    for (k, v) in rows {
        let _ = writeln!(out, "| {k} | {} |", cell(&v));
    }
    if e.profile != "release" {
        out.push_str("\n**Warning:** not a release build; these numbers are not comparable.\n");
    }
    out
}

/// One row per cell (transport × rate) of `v`, repetitions reduced as in the charts.
pub fn runs(v: &Variant<'_>) -> String {
    let mut out = String::from(
        "| transport | offered msg/s | delivered msg/s | MB/s | p50 | p99 | p99.9 | max | overhead B/msg | msgs/unit | lost | status |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for t in &v.transports {
        let mut cells: Vec<_> = v.cells.iter().filter(|c| &c.transport == t).collect();
        // Open-loop rates ascending, closed loop last.
        cells.sort_by(|a, b| match (a.rate, b.rate) {
            (RateKey::PerSec(x), RateKey::PerSec(y)) => x.total_cmp(&y),
            (RateKey::Max, RateKey::PerSec(_)) => std::cmp::Ordering::Greater,
            (RateKey::PerSec(_), RateKey::Max) => std::cmp::Ordering::Less,
            (RateKey::Max, RateKey::Max) => std::cmp::Ordering::Equal,
        });
        for c in cells {
            let r = c.run;
            let l = &r.latency.latency_ns;
            let offered = c.rate.per_sec().map_or("max".to_owned(), text::count);
            let mut status = if r.load.saturated {
                "saturated".to_owned()
            } else {
                r.status.to_string()
            };
            if c.repetitions > 1 {
                let _ = write!(status, " (median of {})", c.repetitions);
            }
            // Nothing measured is not 0 ns.
            let lat = |ns: u64| {
                if l.count == 0 {
                    "–".to_owned()
                } else {
                    text::nanos(ns as f64)
                }
            };
            let units = if r.traffic.messages_per_delivery_unit.count > 0 {
                text::sig3(r.traffic.messages_per_delivery_unit.mean)
            } else {
                "–".to_owned()
            };
            let _ = writeln!(
                out,
                "| {t} | {offered} | {} | {} | {} | {} | {} | {} | {} | {units} | {} | {} |",
                text::count(r.latency.throughput.msgs_per_sec),
                text::sig3(r.latency.throughput.payload_bytes_per_sec / 1e6),
                lat(l.p50),
                lat(l.p99),
                lat(l.p999),
                lat(l.max),
                text::sig3(r.traffic.wire.overhead_bytes_per_msg),
                r.delivery.lost,
                cell(&status),
            );
        }
    }
    out
}
