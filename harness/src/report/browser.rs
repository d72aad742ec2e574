//! The report's "Browser vs Rust client" section: for each browser run (`client=browser`), the
//! Rust-client run of the same cell beside it, and what the browser adds as p50 and p99
//! ratios; plus what those figures rest on (Chromium version, timer resolution, clock
//! uncertainty, where the browser's wire bytes were counted) and why a browser run failed, if one did.

use std::fmt::Write as _;

use super::tables::cell;
use crate::results::{RunResult, Summary};
use crate::text::nanos;

/// The tag that marks a browser run.
const CLIENT: &str = "client";

/// The Rust-client run of the same cell as browser run `b`: equal tags apart from `client`.
fn rust_twin<'a>(summary: &'a Summary, b: &RunResult) -> Option<&'a RunResult> {
    summary.runs.iter().find(|r| {
        !r.tags.contains_key(CLIENT)
            && r.repetition == b.repetition
            && r.tags.len() + 1 == b.tags.len()
            && r.tags.iter().all(|(k, v)| b.tags.get(k) == Some(v))
    })
}

fn ratio(browser: u64, rust: u64) -> String {
    if browser == 0 || rust == 0 {
        "–".to_owned()
    } else {
        format!("{:.1}×", browser as f64 / rust as f64)
    }
}

fn latency(r: &RunResult, q: fn(&RunResult) -> u64) -> String {
    if r.status.is_ok() && r.latency.latency_ns.count > 0 {
        nanos(q(r) as f64)
    } else {
        "–".to_owned()
    }
}

/// The section, or nothing when the scenario ran no browser subscribers.
pub fn markdown(summary: &Summary) -> String {
    let browser: Vec<&RunResult> = summary
        .runs
        .iter()
        .filter(|r| r.browser.is_some())
        .collect();
    let Some(first) = browser.iter().find_map(|r| r.browser.as_ref()) else {
        return String::new();
    };
    let mut out = String::from("\n## Browser vs Rust client\n\n");
    let _ = writeln!(
        out,
        "Browser runs subscribe from one headless Chromium page ({}) on the server's origin: a \
         `fetch` loop for long-poll, `EventSource` for sse, `WebSocket` for websocket, and the \
         same three on Nchan's subscriber location for the nchan-* transports (following \
         Nchan's message ids, as our Rust clients do). The page \
         decodes every envelope in JavaScript and stamps each delivery unit with \
         `performance.timeOrigin + performance.now()`; the server, publishers and schedule are the \
         same as in the Rust-client run beside it, so the ratios are what the browser adds \
         (parsing, base64, its event loop and networking). Page timer resolution {}; page \
         times map onto the harness clock within {}. Browser sockets are not the harness's: \
         their wire bytes are the server's counts minus the publishers', or, for a server that \
         counts nothing (nginx), the kernel's counters of the browser's connections \
         (`subscriber_wire_counted_at` says which).\n",
        first.chromium.as_deref().unwrap_or("version unknown"),
        first
            .timer_resolution_ns
            .map_or("unmeasured".into(), |n| nanos(n as f64)),
        first
            .clock_uncertainty_ns
            .map_or("unknown".into(), |n| format!("±{}", nanos(n as f64))),
    );
    out.push_str(
        "| transport | subscribers | Rust p50 | browser p50 | p50 × | Rust p99 | browser p99 | p99 × | browser run |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let p50 = |r: &RunResult| r.latency.latency_ns.p50;
    let p99 = |r: &RunResult| r.latency.latency_ns.p99;
    for b in &browser {
        let twin = rust_twin(summary, b);
        let ok = |r: &RunResult| r.status.is_ok() && r.latency.latency_ns.count > 0;
        let both = twin.filter(|t| ok(t) && ok(b));
        let status = match (b.status.is_ok(), b.load.valid) {
            (false, _) => "failed",
            (true, false) => "invalid",
            (true, true) => "ok",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            b.transport,
            b.subscribers,
            twin.map_or("–".into(), |t| latency(t, p50)),
            latency(b, p50),
            both.map_or("–".into(), |t| ratio(
                b.latency.latency_ns.p50,
                t.latency.latency_ns.p50
            )),
            twin.map_or("–".into(), |t| latency(t, p99)),
            latency(b, p99),
            both.map_or("–".into(), |t| ratio(
                b.latency.latency_ns.p99,
                t.latency.latency_ns.p99
            )),
            status,
        );
    }
    for b in browser.iter().filter(|b| !b.status.is_ok()) {
        let why = b.failures.first_message().unwrap_or("");
        let _ = writeln!(
            out,
            "\n- {} with {} browser subscribers failed: {}",
            b.transport,
            b.subscribers,
            cell(why)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_need_both_figures() {
        assert_eq!(ratio(3_000, 1_000), "3.0×");
        assert_eq!(ratio(0, 1_000), "–");
    }
}
