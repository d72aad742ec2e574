//! The report's "Ours vs Nchan" section (scenario `web-servers`): each web pattern on our server
//! beside the same pattern on nginx + Nchan, cell by cell (equal tags apart from the
//! transport), and the patterns ranked within each server: by p99 at a fixed offered rate, by
//! delivered msg/s in closed loop. Empty unless a scenario ran both sides of a pair.

use std::fmt::Write as _;

use crate::registry::TransportKind;
use crate::results::{RunResult, Summary};
use crate::text;

/// (pattern, our transport, Nchan's).
const PAIRS: [(&str, TransportKind, TransportKind); 3] = [
    (
        "long polling",
        TransportKind::LongPoll,
        TransportKind::NchanLongPoll,
    ),
    (
        "Server-Sent Events",
        TransportKind::Sse,
        TransportKind::NchanSse,
    ),
    (
        "WebSockets",
        TransportKind::WebSocket,
        TransportKind::NchanWebSocket,
    ),
];

/// The run of `kind` in the same cell as `r` (same tags but the transport, same repetition).
pub(super) fn twin<'a>(
    summary: &'a Summary,
    r: &RunResult,
    kind: TransportKind,
) -> Option<&'a RunResult> {
    summary.runs.iter().find(|o| {
        o.transport == kind
            && o.repetition == r.repetition
            && o.tags.len() == r.tags.len()
            && o.tags
                .iter()
                .all(|(k, v)| k == "transport" || r.tags.get(k) == Some(v))
    })
}

/// The cell's name without the transport tag.
pub(super) fn cell_name(r: &RunResult) -> String {
    let tags: Vec<String> = r
        .tags
        .iter()
        .filter(|(k, _)| k.as_str() != "transport")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    tags.join(",")
}

pub(super) fn measured(r: &RunResult) -> bool {
    r.status.is_ok() && r.latency.latency_ns.count > 0
}

/// `ours / Nchan` for one figure, "–" where a side has none.
fn pair(ours: Option<String>, nchan: Option<String>) -> String {
    let dash = || "–".to_owned();
    format!(
        "{} / {}",
        ours.unwrap_or_else(dash),
        nchan.unwrap_or_else(dash)
    )
}

/// One row of figures of a run: msg/s, p50, p99, overhead, server CPU µs/msg, server KiB/sub.
fn figures(r: &RunResult) -> [Option<String>; 6] {
    let ok = measured(r);
    let l = &r.latency.latency_ns;
    let server = &r.cost.resources.server;
    [
        Some(text::count(r.latency.throughput.msgs_per_sec)),
        ok.then(|| text::nanos(l.p50 as f64)),
        ok.then(|| text::nanos(l.p99 as f64)),
        Some(text::sig3(r.traffic.wire.overhead_bytes_per_msg)),
        server.cpu_ns_per_delivered.map(|ns| text::sig3(ns / 1e3)),
        server
            .rss_bytes_per_subscriber
            .map(|b| text::sig3(b / 1024.0)),
    ]
}

/// The pairs table.
fn pairs_table(summary: &Summary) -> String {
    let mut out = String::from(
        "| pattern | cell | msg/s | p50 | p99 | overhead B/msg | srv CPU µs/msg | srv KiB/sub |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (pattern, ours, nchan) in PAIRS {
        for r in summary.runs.iter().filter(|r| r.transport == ours) {
            let Some(n) = twin(summary, r, nchan) else {
                continue;
            };
            let cols: Vec<String> = figures(r)
                .into_iter()
                .zip(figures(n))
                .map(|(a, b)| pair(a, b))
                .collect();
            let _ = writeln!(
                out,
                "| {pattern} | {} | {} |",
                cell_name(r),
                cols.join(" | ")
            );
        }
    }
    out
}

/// Patterns of one server in one cell, best first: by p99 at a fixed rate, by msg/s in closed
/// loop. Runs without a measurement go last.
pub(super) fn ranked(mut runs: Vec<&RunResult>, closed_loop: bool) -> Vec<&RunResult> {
    runs.sort_by(|a, b| {
        let key = |r: &RunResult| match (measured(r), closed_loop) {
            (false, _) => f64::INFINITY,
            (true, true) => -r.latency.throughput.msgs_per_sec,
            (true, false) => r.latency.latency_ns.p99 as f64,
        };
        key(a).total_cmp(&key(b))
    });
    runs
}

/// A ranked run's name, marked when its figure cannot be trusted as a rank.
pub(super) fn label(r: &RunResult) -> String {
    let name = r.transport.name();
    if !measured(r) {
        format!("{name} (nothing measured in the window)")
    } else if !r.load.valid {
        format!("{name} (INVALID)")
    } else if r.load.saturated {
        format!("{name} (saturated)")
    } else {
        name.to_owned()
    }
}

/// The ranking lines: one per server and cell.
fn rankings(summary: &Summary) -> String {
    let mut out = String::new();
    for (server, nchan) in [("ours", false), ("Nchan", true)] {
        let kinds: Vec<TransportKind> = PAIRS
            .iter()
            .map(|&(_, o, n)| if nchan { n } else { o })
            .collect();
        let runs: Vec<&RunResult> = summary
            .runs
            .iter()
            .filter(|r| kinds.contains(&r.transport))
            .collect();
        let mut cells: Vec<(String, u32)> = Vec::new();
        for r in &runs {
            let key = (cell_name(r), r.repetition);
            if !cells.contains(&key) {
                cells.push(key);
            }
        }
        for (cell, rep) in cells {
            let same: Vec<&RunResult> = runs
                .iter()
                .copied()
                .filter(|r| r.repetition == rep && cell_name(r) == cell)
                .collect();
            let closed = same.first().is_some_and(|r| r.offered_rate.is_none());
            let order: Vec<String> = ranked(same, closed).iter().map(|r| label(r)).collect();
            let by = if closed { "msg/s" } else { "p99" };
            let _ = writeln!(out, "- {server}, {cell} (by {by}): {}", order.join(" > "));
        }
    }
    out
}

/// The section, or nothing when no pattern ran on both servers.
pub fn markdown(summary: &Summary) -> String {
    let any = PAIRS.iter().any(|&(_, ours, nchan)| {
        summary
            .runs
            .iter()
            .any(|r| r.transport == ours && twin(summary, r, nchan).is_some())
    });
    if !any {
        return String::new();
    }
    let mut out = String::from("\n## Ours vs Nchan\n\n");
    out.push_str(
        "Each web pattern on our server and on nginx + Nchan (cells `ours / Nchan`). Nchan's \
         server-side bytes are not ours to count, so overhead is the clients' count of both hops; \
         its CPU and memory are nginx's master plus workers from `/proc` (memory summed, an upper \
         bound). Nchan publishes one message per answered POST.\n\n",
    );
    out.push_str(&pairs_table(summary));
    out.push_str("\nPatterns ranked within each server:\n\n");
    out.push_str(&rankings(summary));
    out
}
