//! The report's "Same server, push vs pull" section (scenario `brokers`): the products that
//! offer both patterns on one server (NATS: core and JetStream push vs JetStream pull; Redis:
//! Pub/Sub vs Streams) compared with the implementation held constant, beside our own
//! implementations of the patterns (websocket and raw-tcp push; pull-log and long-poll pull).
//! MQTT has no pull: it is listed with the push patterns, and said to have no pair.
//!
//! Three views of the same runs: per transport, the headline figures of the issue (max msg/s
//! in closed loop, p50/p99 at 1K msg/s, overhead, server CPU per delivered message, server
//! memory per subscriber) with what limited the run; each push/pull pair cell by cell (equal
//! tags apart from the transport, as `servers.rs` pairs ours with Nchan); and every transport
//! of the section ranked within each cell. A figure that was not measured prints as
//! unavailable, never 0. Empty unless the summary has a product pair with both sides.

use std::fmt::Write as _;

use super::servers::{cell_name, label, measured, ranked, twin};
use super::sweeps::{UNAVAILABLE, flags, latency, per_message};
use crate::registry::TransportKind as K;
use crate::results::{RunResult, Summary};
use crate::text;

/// One server: its name, and its transports by pattern.
struct Server {
    name: &'static str,
    push: &'static [K],
    pull: &'static [K],
}

const SERVERS: [Server; 4] = [
    Server {
        name: "NATS",
        push: &[K::NatsCore, K::NatsPush],
        pull: &[K::NatsPull],
    },
    Server {
        name: "Redis",
        push: &[K::RedisPubsub],
        pull: &[K::RedisStreams],
    },
    Server {
        name: "MQTT",
        push: &[K::Mqtt],
        pull: &[],
    },
    Server {
        name: "ours",
        push: &[K::WebSocket, K::RawTcp],
        pull: &[K::PullLog, K::LongPoll],
    },
];

/// The pairs compared cell by cell: (server, push, pull).
const PAIRS: [(&str, K, K); 5] = [
    ("NATS", K::NatsPush, K::NatsPull),
    ("NATS", K::NatsCore, K::NatsPull),
    ("Redis", K::RedisPubsub, K::RedisStreams),
    ("ours", K::WebSocket, K::PullLog),
    ("ours", K::WebSocket, K::LongPoll),
];

/// The products' pairs: a summary with one of these on both sides gets the section.
const PRODUCT_PAIRS: usize = 3;

/// Tags that place a run on the load axis rather than in a group of comparable runs.
const LOAD_TAGS: [&str; 3] = ["transport", "rate", "deliveries"];

/// A run in closed loop (`rate=max`).
fn closed(r: &RunResult) -> bool {
    r.offered_rate.is_none()
}

/// A run at 1K deliveries per second: `deliveries_per_sec = 1000`, else `rate_per_sec = 1000`.
fn at_1k(r: &RunResult) -> bool {
    let is = |k: &str| r.tags.get(k).is_some_and(|v| v == "1000");
    is("deliveries") || (!r.tags.contains_key("deliveries") && is("rate"))
}

/// The run's tags apart from transport and load: runs sharing it are one group.
fn group(r: &RunResult) -> String {
    let tags: Vec<String> = r
        .tags
        .iter()
        .filter(|(k, _)| !LOAD_TAGS.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    tags.join(",")
}

/// Server CPU µs per delivered message and server KiB per subscriber, unavailable when not
/// measured (a server someone else runs, a run that delivered nothing).
fn server_figures(r: &RunResult) -> [String; 2] {
    let s = &r.cost.resources.server;
    [
        s.cpu_ns_per_delivered
            .map_or_else(|| UNAVAILABLE.to_owned(), |ns| text::sig3(ns / 1e3)),
        s.rss_bytes_per_subscriber
            .map_or_else(|| UNAVAILABLE.to_owned(), |b| text::sig3(b / 1024.0)),
    ]
}

/// What limited `r`, unavailable for results from before the verdict existed.
fn limit(r: &RunResult) -> String {
    r.limited_by
        .map_or_else(|| UNAVAILABLE.to_owned(), |l| l.name().to_owned())
}

/// The headline row of `kind` in `runs` (one group): max msg/s and its limit from the
/// closed-loop run; everything else from the 1K run.
fn headline_row(server: &str, pattern: &str, kind: K, runs: &[&RunResult]) -> String {
    let of = |pick: fn(&RunResult) -> bool| {
        runs.iter()
            .copied()
            .filter(|r| r.transport == kind && pick(r) && r.repetition == 0)
            .max_by(|a, b| {
                let m = |r: &RunResult| r.latency.throughput.msgs_per_sec;
                m(a).total_cmp(&m(b))
            })
    };
    let (max, slow) = (of(closed), of(at_1k));
    let una = || UNAVAILABLE.to_owned();
    let max_cols = max.map_or_else(
        || [una(), una()],
        |r| {
            let rate = if measured(r) {
                text::count(r.latency.throughput.msgs_per_sec)
            } else {
                una()
            };
            [rate, limit(r)]
        },
    );
    let slow_cols = slow.map_or_else(
        || [una(), una(), una(), una(), una()],
        |r| {
            let [cpu, mem] = server_figures(r);
            [
                latency(r, r.latency.latency_ns.p50),
                latency(r, r.latency.latency_ns.p99),
                per_message(r, r.traffic.wire.overhead_bytes_per_msg),
                cpu,
                mem,
            ]
        },
    );
    let mut notes: Vec<String> = Vec::new();
    for (what, r) in [("max", max), ("1K", slow)] {
        if let Some(f) = r.map(flags).filter(|f| !f.is_empty()) {
            notes.push(format!("{what} run: {}", f.join(", ")));
        }
    }
    format!(
        "| {server} | {pattern} | {kind} | {} | {} | {} |",
        max_cols.join(" | "),
        slow_cols.join(" | "),
        notes.join("; ")
    )
}

/// The headline tables, one per group of comparable runs.
fn headline(summary: &Summary) -> String {
    let runs: Vec<&RunResult> = summary.runs.iter().collect();
    let mut groups: Vec<String> = Vec::new();
    for r in &runs {
        let g = group(r);
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    let mut out = String::new();
    for g in groups {
        let same: Vec<&RunResult> = runs.iter().copied().filter(|r| group(r) == g).collect();
        let mut rows = String::new();
        for s in &SERVERS {
            let kinds = s.push.iter().map(|&k| ("push", k));
            for (pattern, kind) in kinds.chain(s.pull.iter().map(|&k| ("pull", k))) {
                if same.iter().any(|r| r.transport == kind) {
                    rows.push_str(&headline_row(s.name, pattern, kind, &same));
                    rows.push('\n');
                }
            }
        }
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n### {g}\n");
        out.push_str(
            "| server | pattern | transport | max msg/s | max limited by | p50 at 1K/s | p99 at 1K/s | overhead B/msg | srv CPU µs/msg | srv KiB/sub | notes |\n\
             |---|---|---|---:|---|---:|---:|---:|---:|---:|---|\n",
        );
        out.push_str(&rows);
    }
    out
}

/// One side's figures in a pair: msg/s, p50, p99, overhead, server CPU, server memory.
fn figures(r: &RunResult) -> [String; 6] {
    let rate = if measured(r) {
        text::count(r.latency.throughput.msgs_per_sec)
    } else {
        UNAVAILABLE.to_owned()
    };
    let [cpu, mem] = server_figures(r);
    [
        rate,
        latency(r, r.latency.latency_ns.p50),
        latency(r, r.latency.latency_ns.p99),
        per_message(r, r.traffic.wire.overhead_bytes_per_msg),
        cpu,
        mem,
    ]
}

/// The pairs table: `push / pull` per figure, and which side did better in the cell.
fn pairs_table(summary: &Summary) -> String {
    let mut out = String::from(
        "| server | push / pull | cell | msg/s | p50 | p99 | overhead B/msg | srv CPU µs/msg | srv KiB/sub | better |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for (server, push, pull) in PAIRS {
        for r in summary.runs.iter().filter(|r| r.transport == push) {
            let Some(p) = twin(summary, r, pull) else {
                continue;
            };
            let cols: Vec<String> = figures(r)
                .into_iter()
                .zip(figures(p))
                .map(|(a, b)| format!("{a} / {b}"))
                .collect();
            let better = match ranked(vec![r, p], closed(r)).first() {
                Some(b) if measured(b) => label(b),
                _ => UNAVAILABLE.to_owned(),
            };
            let _ = writeln!(
                out,
                "| {server} | {push} / {pull} | {} | {} | {better} |",
                cell_name(r),
                cols.join(" | ")
            );
        }
    }
    out
}

/// Every transport of the section ranked within each cell (and repetition).
fn rankings(summary: &Summary) -> String {
    let section: Vec<K> = SERVERS
        .iter()
        .flat_map(|s| s.push.iter().chain(s.pull))
        .copied()
        .collect();
    let runs: Vec<&RunResult> = summary
        .runs
        .iter()
        .filter(|r| section.contains(&r.transport))
        .collect();
    let mut cells: Vec<(String, u32)> = Vec::new();
    for r in &runs {
        let key = (cell_name(r), r.repetition);
        if !cells.contains(&key) {
            cells.push(key);
        }
    }
    let mut out = String::new();
    for (cell, rep) in cells {
        let same: Vec<&RunResult> = runs
            .iter()
            .copied()
            .filter(|r| r.repetition == rep && cell_name(r) == cell)
            .collect();
        if same.len() < 2 {
            continue;
        }
        let closed_loop = same.first().is_some_and(|r| closed(r));
        let order: Vec<String> = ranked(same, closed_loop).iter().map(|r| label(r)).collect();
        let by = if closed_loop { "msg/s" } else { "p99" };
        let _ = writeln!(out, "- {cell} (by {by}): {}", order.join(" > "));
    }
    out
}

/// The section, or nothing when no product ran both its push and its pull side.
pub fn markdown(summary: &Summary) -> String {
    let any = PAIRS[..PRODUCT_PAIRS].iter().any(|&(_, push, pull)| {
        summary
            .runs
            .iter()
            .any(|r| r.transport == push && twin(summary, r, pull).is_some())
    });
    if !any {
        return String::new();
    }
    let mut out = String::from("\n## Same server, push vs pull\n\n");
    out.push_str(
        "Each product's push and pull patterns on one server, so a difference is the pattern's, \
         not the implementation's, beside our own push (websocket, the raw-tcp floor) and pull \
         (pull-log, long-poll). Max msg/s is the closed-loop run's (bounded by `max_in_flight`; \
         \"limited by\" says whether the server's cores, the load generator's, or the window \
         set it); the other figures are the run at 1K deliveries/s (`deliveries_per_sec = \
         1000`, else `rate_per_sec = 1000`). Overhead is every non-payload byte per delivered \
         message, both hops, counted at the clients' sockets (a product server's side is their \
         mirror); server CPU and memory come from `/proc` of the server's processes, one core \
         each side when the scenario pins them. MQTT has no pull: a subscriber's messages are \
         always pushed (QoS 1 queues them per persistent session), so mqtt has no pair. A \
         figure that was not measured is `unavailable`.\n",
    );
    out.push_str(&headline(summary));
    out.push_str("\nPush and pull cell by cell (`push / pull`; better: by msg/s in closed loop, by p99 at a fixed rate):\n\n");
    out.push_str(&pairs_table(summary));
    out.push_str("\nEvery transport of this section ranked within each cell:\n\n");
    out.push_str(&rankings(summary));
    out
}
