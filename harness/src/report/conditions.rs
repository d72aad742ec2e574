//! What the network and fault settings did, as rows for both the printed table and the
//! report: one row per fault per run (lost, duplicated, recovery, reconnects) and, for runs
//! with almost no messages, the cost of staying connected. Without these the figures that the
//! `flaky`, `restart` and `idle` scenarios exist for would be only in `summary.json`.

use std::fmt::Write as _;

use crate::link::FaultKind;
use crate::results::{RunResult, Summary};
use crate::text;

/// At or below this offered rate a run is mostly staying connected, so its idle cost is shown.
const IDLE_RATE_PER_SEC: f64 = 1.0;

/// A run's name for tables: its transport plus only the tags that vary in this scenario, and
/// the repetition after the first.
pub fn label(s: &Summary, r: &RunResult) -> String {
    let mut name = r.transport.name().to_owned();
    for (k, v) in &r.tags {
        // A tag only some runs carry (`client=browser`) varies too.
        let varies = || {
            let mut values = s.runs.iter().map(|x| x.tags.get(k));
            let first = values.next().flatten();
            values.any(|x| x != first)
        };
        if k != "transport" && varies() {
            let _ = write!(name, " {k}={v}");
        }
    }
    if r.repetition > 0 {
        let _ = write!(name, " #{}", r.repetition);
    }
    name
}

/// Column titles of [`fault_rows`].
pub const FAULT_HEADER: [&str; 9] = [
    "run",
    "fault",
    "at",
    "lost",
    "dup",
    "recovery",
    "live again t50/t99/t100",
    "unrecovered",
    "reconnects (connects, failed)",
];

/// One row per fault of every run: run name, kind (and target or duration), when, lost,
/// duplicated, recovery time, re-convergence, subscribers that never recovered, reconnect
/// attempts with the subscribers' connection attempts and failures.
pub fn fault_rows(summary: &Summary) -> Vec<[String; 9]> {
    let mut rows = Vec::new();
    for r in &summary.runs {
        for f in &r.faults {
            let kind = match (f.kind, f.duration_secs > 0.0) {
                (FaultKind::ResetConnections, _) => format!("reset {}", f.target),
                (k, true) => format!("{k} {}", text::nanos(f.duration_secs * 1e9)),
                (k, false) => k.name().to_owned(),
            };
            let recovery = match (&f.error, f.fired, f.recovery_ns) {
                (Some(e), _, _) => format!("error: {e}"),
                (None, false, _) => "did not fire".to_owned(),
                (None, true, Some(ns)) => text::nanos(ns as f64),
                (None, true, None) => "none".to_owned(),
            };
            let connects = match (f.connect_attempts, f.connect_failures) {
                (Some(a), Some(x)) => format!("{} ({a}, {x})", f.reconnects),
                _ => f.reconnects.to_string(),
            };
            rows.push([
                label(summary, r),
                kind,
                format!("{}s", f.at_secs),
                f.lost.to_string(),
                f.duplicated.to_string(),
                recovery,
                reconvergence(f),
                f.unrecovered_subscribers.to_string(),
                connects,
            ]);
        }
    }
    rows
}

/// `t50 / t99 / t100` of a fault, `–` where that share was never live again.
pub fn reconvergence(f: &crate::results::faults::FaultResult) -> String {
    let Some(r) = &f.reconvergence else {
        return "–".to_owned();
    };
    let t = |v: Option<u64>| v.map_or("–".to_owned(), |ns| text::nanos(ns as f64));
    format!("{} / {} / {}", t(r.t50_ns), t(r.t99_ns), t(r.t100_ns))
}

/// Column titles of [`idle_rows`].
pub const IDLE_HEADER: [&str; 4] = [
    "run",
    "bytes/subscriber/min",
    "requests/subscriber/min",
    "requests",
];

/// The idle cost of every run offered at most one message per second.
pub fn idle_rows(summary: &Summary) -> Vec<[String; 4]> {
    summary
        .runs
        .iter()
        .filter(|r| r.offered_rate.is_some_and(|x| x <= IDLE_RATE_PER_SEC))
        .map(|r| {
            let c = &r.cost.idle_cost;
            let kinds: Vec<String> = c.requests.iter().map(|(k, n)| format!("{n} {k}")).collect();
            [
                label(summary, r),
                text::bytes(c.bytes_per_subscriber_per_min),
                format!("{:.1}", c.requests_per_subscriber_per_min),
                if kinds.is_empty() {
                    "none".to_owned()
                } else {
                    kinds.join(", ")
                },
            ]
        })
        .collect()
}

/// The emulated link, as one sentence, if the scenario had one.
pub fn link_sentence(summary: &Summary) -> Option<String> {
    let link = summary.scenario.effective.get("link")?.as_object()?;
    let text = |k: &str| link.get(k).and_then(|v| v.as_str()).unwrap_or("0ms");
    let bandwidth = link
        .get("bandwidth_bits_per_sec")
        .and_then(|v| v.as_u64())
        .map_or("unlimited bandwidth".to_owned(), |b| {
            format!("{} Mbit/s each way", b as f64 / 1e6)
        });
    // Older results have no `applies_to`: their links applied to every client.
    let who = match link.get("applies_to").and_then(|v| v.as_str()) {
        Some("subscribers") => {
            "Subscribers reached the server through the built-in link emulator (publishers \
             connected directly, as producers beside a broker do)"
        }
        Some("publishers") => {
            "Publishers reached the server through the built-in link emulator (subscribers \
             connected directly)"
        }
        _ => "Every client reached the server through the built-in link emulator",
    };
    Some(format!(
        "{who}: {} round trip, ± {} jitter, {bandwidth}. Bytes are counted at the endpoints, \
         not in the emulator.",
        text("rtt"),
        text("jitter")
    ))
}

/// Markdown sections for the report: faults and idle cost, where there are any.
pub fn markdown(summary: &Summary) -> String {
    let mut out = String::new();
    let faults = fault_rows(summary);
    if !faults.is_empty() {
        out.push_str(
            "\n## Faults\n\nPer fault: messages lost and delivered twice because of it, recovery \
             (from the fault until every subscriber had a message sent after it), when 50%, 99% \
             and 100% of the subscribers were live again (for a churn: of the cuts, each from \
             its own cut), and reconnect attempts (with the subscribers' TCP connection attempts \
             and how many failed).\n\n",
        );
        table(&mut out, &FAULT_HEADER, &faults);
    }
    let idle = idle_rows(summary);
    if !idle.is_empty() {
        out.push_str(
            "\n## Cost of staying connected\n\nNon-payload bytes and requests per subscriber per \
             minute (re-polls, pings, empty fetches) in runs with almost no messages.\n\n",
        );
        table(&mut out, &IDLE_HEADER, &idle);
    }
    out
}

fn table<const N: usize>(out: &mut String, header: &[&str; N], rows: &[[String; N]]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(N));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| super::tables::cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
}
