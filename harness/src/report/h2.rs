//! The report's "HTTP/2" section (scenarios that sweep `http` for long-poll or sse): each run
//! over HTTP/2 beside its HTTP/1.1 twin (equal tags apart from `http`), overhead per message on
//! the wire and, under TLS, the pattern's own framing above TLS; and the answer to the claim that
//! long polling has "high protocol overhead" because every poll carries full headers, which
//! HTTP/2's header compression (HPACK) and multiplexing change. Empty without HTTP/2 runs.

use std::fmt::Write as _;

use super::claims::OverheadClass;
use crate::registry::TransportKind;
use crate::results::{RunResult, Summary};

/// The HTTP/1.1 run in the same cell as `r` (same tags but `http`, same repetition).
fn http11_twin<'a>(summary: &'a Summary, r: &RunResult) -> Option<&'a RunResult> {
    summary.runs.iter().find(|o| {
        o.repetition == r.repetition
            && o.tags.get("http").map(String::as_str) == Some("1.1")
            && o.tags.len() == r.tags.len()
            && o.tags
                .iter()
                .all(|(k, v)| k == "http" || r.tags.get(k) == Some(v))
    })
}

/// The cell's name without the `http` tag.
fn cell_name(r: &RunResult) -> String {
    let tags: Vec<String> = r
        .tags
        .iter()
        .filter(|(k, _)| k.as_str() != "http")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    tags.join(",")
}

fn bytes(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"))
}

/// The pattern's framing per message above TLS (`None` over plaintext: the wire figure is it).
fn framing(r: &RunResult) -> Option<f64> {
    r.traffic.wire.plaintext.map(|p| p.overhead_bytes_per_msg)
}

/// One HTTP/2 run and its HTTP/1.1 twin.
struct Pair<'a> {
    h2: &'a RunResult,
    h1: Option<&'a RunResult>,
}

impl Pair<'_> {
    fn overhead(r: Option<&RunResult>) -> Option<f64> {
        r.map(|r| r.traffic.wire.overhead_bytes_per_msg)
    }

    fn row(&self) -> String {
        let (h1, h2) = (Pair::overhead(self.h1), Pair::overhead(Some(self.h2)));
        let change = match (h1, h2) {
            (Some(a), Some(b)) if a > 0.0 => format!("{:+.0}%", (b - a) / a * 100.0),
            _ => "–".to_owned(),
        };
        let conns = self.h2.traffic.wire.client.connections;
        format!(
            "| {} | {} | {} | {change} | {} → {} | {conns} |",
            cell_name(self.h2),
            bytes(h1),
            bytes(h2),
            bytes(self.h1.and_then(framing)),
            bytes(framing(self.h2)),
        )
    }
}

/// The long-poll sentence: the claim's overhead class under HTTP/1.1 and HTTP/2, at the
/// lowest open-loop rate the scenario ran, TLS off and on.
fn long_poll_answer(pairs: &[Pair<'_>]) -> Option<String> {
    let lp: Vec<&Pair<'_>> = pairs
        .iter()
        .filter(|p| p.h2.transport == TransportKind::LongPoll)
        .filter(|p| p.h2.tags.get("rate").is_some_and(|r| r != "max"))
        .collect();
    let rate = |p: &&Pair<'_>| p.h2.offered_rate.unwrap_or(f64::INFINITY);
    let low = lp.iter().map(rate).fold(f64::INFINITY, f64::min);
    let mut parts = Vec::new();
    for p in lp.iter().filter(|p| rate(p) == low) {
        let tls = p.h2.tags.get("tls").map_or("", |t| t.as_str());
        let h2 = p.h2.traffic.wire.overhead_bytes_per_msg;
        let h1 = Pair::overhead(p.h1);
        let class = |b: f64| OverheadClass::of(b).name();
        let over = if tls.is_empty() {
            String::new()
        } else {
            format!(" with TLS {tls}")
        };
        parts.push(format!(
            "{} B/msg over HTTP/1.1 ({}) vs {h2:.1} B/msg over HTTP/2 ({}){over}",
            bytes(h1),
            h1.map_or("–", class),
            class(h2)
        ));
    }
    (!parts.is_empty()).then(|| {
        format!(
            "The claim \"each poll creates a new HTTP request with full headers; high protocol \
             overhead\", at {} msg/s: long polling pays {}. Overhead classes as in the claims \
             table (high ≥ 200 B).",
            crate::text::count(low),
            parts.join("; ")
        )
    })
}

/// The section's Markdown (empty without HTTP/2 runs).
pub fn markdown(summary: &Summary) -> String {
    let pairs: Vec<Pair<'_>> = summary
        .runs
        .iter()
        .filter(|r| r.tags.get("http").map(String::as_str) == Some("2"))
        .map(|h2| Pair {
            h2,
            h1: http11_twin(summary, h2),
        })
        .collect();
    if pairs.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n## HTTP/2: headers per message\n\n");
    out.push_str(
        "Long-poll and sse over HTTP/1.1 beside the same cell over HTTP/2 (h2 by ALPN under TLS, \
         h2c with prior knowledge without). Overhead is the steady-state bytes per delivered \
         message that are not payload, both hops, at the socket (ciphertext under TLS); framing \
         is the same counted above TLS (– over plaintext, where the two are one). Over HTTP/2 a \
         client's subscribers share connections (`streams_per_connection` in the effective \
         scenario), HPACK sends repeated headers as table indexes, and each request and response \
         pays HTTP/2 frame headers and flow-control updates instead of a request line and \
         chunked encoding.\n\n",
    );
    if let Some(answer) = long_poll_answer(&pairs) {
        let _ = writeln!(out, "{answer}\n");
    }
    out.push_str(
        "| cell | overhead B/msg HTTP/1.1 | HTTP/2 | change | framing above TLS 1.1 → 2 | \
         client connections (h2) |\n|---|---|---|---|---|---|\n",
    );
    for p in &pairs {
        let _ = writeln!(out, "{}", p.row());
    }
    out
}
