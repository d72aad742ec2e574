//! The report's "TLS" section (scenarios with `[tls]`): each run over TLS beside its plaintext
//! twin (equal tags apart from `tls`), with the overhead per message split into the pattern's
//! framing (counted above TLS) and what TLS adds (ciphertext at the socket minus that), the
//! TLS handshake per connection, CPU per delivered message on both sides, and set-up time.
//! Empty when no run used TLS.

use std::fmt::Write as _;

use crate::results::{RunResult, Summary};
use crate::text;

/// The plaintext run in the same cell as `r` (same tags but `tls`, same repetition).
fn plaintext_twin<'a>(summary: &'a Summary, r: &RunResult) -> Option<&'a RunResult> {
    summary.runs.iter().find(|o| {
        o.repetition == r.repetition
            && o.tags.get("tls").map(String::as_str) == Some("off")
            && o.tags.len() == r.tags.len()
            && o.tags
                .iter()
                .all(|(k, v)| k == "tls" || r.tags.get(k) == Some(v))
    })
}

/// The cell's name without the `tls` tag.
fn cell_name(r: &RunResult) -> String {
    let tags: Vec<String> = r
        .tags
        .iter()
        .filter(|(k, _)| k.as_str() != "tls")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    tags.join(",")
}

fn bytes(v: f64) -> String {
    format!("{v:.1}")
}

/// `off → on` for an optional figure, "–" where a side has none.
fn pair(off: Option<f64>, on: Option<f64>, show: impl Fn(f64) -> String) -> String {
    let one = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), &show);
    format!("{} → {}", one(off), one(on))
}

fn micros(ns: f64) -> String {
    format!("{:.2}", ns / 1000.0)
}

/// One table row for a TLS run (and its plaintext twin when there is one).
fn row(summary: &Summary, on: &RunResult) -> Option<String> {
    let plain = on.traffic.wire.plaintext?;
    let off = plaintext_twin(summary, on);
    let conns = on.traffic.wire.client.connections.max(1);
    let server_cpu = |r: &RunResult| r.cost.resources.server.cpu_ns_per_delivered;
    let load_cpu = |r: &RunResult| r.cost.resources.load.cpu_ns_per_delivered;
    Some(format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        cell_name(on),
        off.map_or_else(
            || "–".to_owned(),
            |o| bytes(o.traffic.wire.overhead_bytes_per_msg)
        ),
        bytes(on.traffic.wire.overhead_bytes_per_msg),
        bytes(plain.overhead_bytes_per_msg),
        bytes(plain.tls_overhead_bytes_per_msg),
        text::count((plain.tls_handshake_bytes / conns) as f64),
        pair(off.and_then(server_cpu), server_cpu(on), micros),
        pair(off.and_then(load_cpu), load_cpu(on), micros),
        pair(
            off.and_then(|o| o.cost.setup_secs),
            on.cost.setup_secs,
            |s| format!("{s:.2}")
        ),
    ))
}

/// The section's Markdown (empty without TLS runs).
pub fn markdown(summary: &Summary) -> String {
    let rows: Vec<String> = summary
        .runs
        .iter()
        .filter(|r| r.tags.get("tls").map(String::as_str) == Some("on"))
        .filter_map(|r| row(summary, r))
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n## TLS: what it adds per message\n\n");
    if let Some(n) = &summary.environment.tls {
        let _ = writeln!(
            out,
            "Negotiated: {} with {}; every connection pays a full handshake (no session \
             resumption).\n",
            n.version, n.cipher_suite
        );
    }
    out.push_str(
        "Overhead is the steady-state bytes per delivered message that are not payload, both hops \
         together. Over TLS the socket carries ciphertext; the same connections are counted again \
         above TLS, so the overhead splits into the pattern's framing (above TLS) and what TLS \
         records add (the rest). CPU is per delivered message inside the measured window; set-up \
         is the time to connect every client (TLS handshakes included).\n\n",
    );
    out.push_str(
        "| cell | overhead B/msg, plaintext | over TLS | of which framing | of which TLS | TLS \
         handshake B/conn | server CPU µs/msg off → on | load CPU µs/msg off → on | set-up s \
         off → on |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(out, "{r}");
    }
    out
}
