//! The report's "Server cost at scale" section, for scenarios that sweep the subscriber count:
//! per transport, the server's memory per connected subscriber and CPU per delivered message,
//! measured in the server's own process, and the sentences that hold them against the folklore
//! (push servers keep state per consumer, pull brokers stay stateless).

use std::fmt::Write as _;

use crate::charts::sweep::{SubscriberSweep, SweepPoint, subscriber_sweeps};
use crate::registry::TransportKind;
use crate::results::Summary;
use crate::text;

/// Transports whose server pushes to each subscriber (the pull log is fetched from).
const PUSH: [TransportKind; 3] = [
    TransportKind::WebSocket,
    TransportKind::Sse,
    TransportKind::RawTcp,
];
/// The pull-fetch log.
const PULL: TransportKind = TransportKind::PullLog;

/// The section for every subscriber sweep in `summary` (empty when there is none).
pub fn markdown(summary: &Summary) -> String {
    let mut out = String::new();
    for s in subscriber_sweeps(summary) {
        let suffix = if s.label.is_empty() {
            String::new()
        } else {
            format!(" ({})", s.label)
        };
        let _ = writeln!(out, "\n## Server cost at scale{suffix}\n");
        out.push_str(
            "Measured in the server's own process (`[server] mode = \"process\"`): memory per \
             connected subscriber is (resident memory with every client connected and idle − \
             resident memory before any connected) / subscribers; CPU is the server's user + \
             system time inside the measured window per delivered message.\n\n",
        );
        for f in findings(&s) {
            let _ = writeln!(out, "- {f}");
        }
        out.push('\n');
        out.push_str(&table(&s));
        out.push_str(&composition(&s));
    }
    out
}

/// What one connected subscriber's bytes consist of on each transport's server, for the
/// transports in the sweep: the figure above is their resident share (a buffer only counts
/// once its pages are written; kernel socket buffers are not in the process's memory at all).
fn composition(s: &SubscriberSweep<'_>) -> String {
    let mut seen: Vec<TransportKind> = s.points.iter().map(|p| p.transport).collect();
    seen.dedup();
    let mut out = String::from(
        "\nWhat a connected subscriber holds on each server (resident memory counts a buffer's \
         pages once written; kernel socket buffers are outside the process):\n\n",
    );
    for t in seen {
        let _ = writeln!(out, "- **{t}**: {}", connection_parts(t));
    }
    out
}

/// One transport's per-subscriber server state, in words (from its server's code).
fn connection_parts(t: TransportKind) -> &'static str {
    match t {
        TransportKind::RawTcp => {
            "a connection task, a length-delimited frame reader (8 KiB read buffer) and a \
             bounded queue of `queue_capacity` message handles on its topic, filled only as \
             messages arrive."
        }
        TransportKind::LongPoll => {
            "an HTTP/1.1 connection (hyper's read buffer starts at 8 KiB) and, while a poll is \
             held, the parked request waiting on its topic's watch channel; messages stay in \
             the topic's shared store, so there is no per-subscriber queue."
        }
        TransportKind::Sse => {
            "the long-poll server's HTTP/1.1 connection plus one open streaming response that \
             waits on its topic's watch channel and reads from the shared store."
        }
        TransportKind::WebSocket => {
            "tungstenite's connection state: a read buffer (`subscriber_read_buffer_bytes`, \
             1 KiB: a subscriber sends only control frames; publishers get `read_buffer_bytes`, \
             128 KiB), a write buffer that grows only under load, a bounded send queue of \
             `send_queue_messages` handles filled as messages arrive, and the ping timer. With \
             tungstenite's 128 KiB read buffer on every connection it held ~141 KB per idle \
             subscriber, written in full at the first read."
        }
        TransportKind::PullLog => {
            "a Kafka-protocol connection: a frame reader with 64 KiB reserved (resident only as \
             far as requests fill it) and, while a fetch is parked, its request; the log itself \
             is shared by every consumer."
        }
        TransportKind::NchanLongPoll | TransportKind::NchanSse | TransportKind::NchanWebSocket => {
            "nginx's connection and Nchan's subscriber state for the channel (C code we did not \
             write); memory is summed over nginx's master and workers, pages they share counted \
             twice, so it is an upper bound."
        }
        TransportKind::RedisPubsub => {
            "redis-server's client state (a query buffer and a reply buffer that grows only \
             while the subscriber lags, up to `client-output-buffer-limit pubsub`) and its \
             entry in the channel's subscriber list; nothing is kept per message."
        }
        TransportKind::RedisStreams => {
            "redis-server's client state and, while its `XREAD BLOCK` is held, the blocked \
             request; the stream (capped at `maxlen`) is shared by every reader."
        }
        TransportKind::Mqtt => {
            "mosquitto's per-client session: the subscription, up to \
             `max_inflight_messages` unacknowledged and `max_queued_messages` queued QoS 1 \
             messages (references to shared payloads), kept across a reconnect with a \
             persistent session."
        }
        TransportKind::NatsCore | TransportKind::NatsPush | TransportKind::NatsPull => {
            "nats-server's client connection (Go: read and write buffers that grow with \
             traffic and shrink when idle) and, for JetStream, one durable consumer per \
             subscriber with its pending and ack state; the stream's messages are shared."
        }
    }
}

fn table(s: &SubscriberSweep<'_>) -> String {
    let mut out = String::from(
        "| transport | subscribers | server memory / subscriber | server CPU / delivered message | set-up | lost | note |\n|---|---|---|---|---|---|---|\n",
    );
    for p in &s.points {
        let lost: u64 = p.runs.iter().map(|r| r.delivery.lost).sum();
        // The slowest repetition's: set-up time is a bound users plan around.
        let setup = p
            .runs
            .iter()
            .filter_map(|r| r.cost.setup_secs)
            .max_by(f64::total_cmp)
            .map_or_else(|| "–".to_owned(), |s| format!("{} s", text::sig3(s)));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {setup} | {lost} | {} |",
            p.transport,
            text::count(f64::from(p.subscribers)),
            bytes(p.server_bytes_per_subscriber),
            nanos(p.server_cpu_ns_per_delivered),
            note(p)
        );
    }
    out
}

fn bytes(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), text::bytes)
}

fn nanos(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), text::nanos)
}

fn note(p: &SweepPoint<'_>) -> String {
    let mut notes = Vec::new();
    if p.runs.iter().any(|r| !r.status.is_ok()) {
        notes.push("failed");
    }
    if p.runs.iter().any(|r| r.load.saturated) {
        notes.push("saturated");
    }
    if p.runs.iter().any(|r| !r.load.valid) {
        notes.push("invalid");
    }
    if p.server_bytes_per_subscriber.is_none() && p.server_cpu_ns_per_delivered.is_none() {
        notes.push("server not measured");
    }
    notes.join(", ")
}

/// Sentences about the largest subscriber count, and how each transport's cost grew.
fn findings(s: &SubscriberSweep<'_>) -> Vec<String> {
    let counts = s.counts();
    let (Some(&small), Some(&large)) = (counts.first(), counts.last()) else {
        return Vec::new();
    };
    let at = s.at(large);
    let mut out = Vec::new();
    out.extend(ranking(
        &at,
        large,
        "memory per connected subscriber",
        |p| p.server_bytes_per_subscriber,
        text::bytes,
    ));
    out.extend(ranking(
        &at,
        large,
        "CPU per delivered message",
        |p| p.server_cpu_ns_per_delivered,
        text::nanos,
    ));
    out.extend(pull_against_push(&at, large));
    for &t in &s.transports {
        out.extend(growth(s, t, small, large));
    }
    out
}

/// "At 10K subscribers, server memory per connected subscriber: a 12 KB, b 137 KB (…)".
fn ranking(
    at: &[&SweepPoint<'_>],
    subscribers: u32,
    what: &str,
    pick: fn(&SweepPoint<'_>) -> Option<f64>,
    show: fn(f64) -> String,
) -> Option<String> {
    let mut v: Vec<(TransportKind, f64)> = at
        .iter()
        .filter_map(|p| Some((p.transport, pick(p)?)))
        .collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (low, high) = (v.first()?, v.last()?);
    let list: Vec<String> = v.iter().map(|(t, x)| format!("{t} {}", show(*x))).collect();
    let spread = if v.len() > 1 && low.1 > 0.0 {
        format!(
            " (**{}** lowest, **{}** highest, {} apart)",
            low.0,
            high.0,
            text::ratio(high.1 / low.1)
        )
    } else {
        String::new()
    };
    Some(format!(
        "At {} subscribers, server {what}: {}{spread}.",
        text::count(f64::from(subscribers)),
        list.join(", ")
    ))
}

/// The folklore's claim, held against the measurement: does a pull broker hold less per
/// connected consumer than the push servers?
fn pull_against_push(at: &[&SweepPoint<'_>], subscribers: u32) -> Option<String> {
    let mem = |kind: TransportKind| {
        at.iter()
            .find(|p| p.transport == kind)
            .and_then(|p| p.server_bytes_per_subscriber)
    };
    let pull = mem(PULL)?;
    let push: Vec<(TransportKind, f64)> = PUSH.iter().filter_map(|&t| Some((t, mem(t)?))).collect();
    let lowest = push.iter().map(|p| p.1).min_by(f64::total_cmp)?;
    let list: Vec<String> = push
        .iter()
        .map(|(t, b)| format!("{t} {}", text::bytes(*b)))
        .collect();
    let verdict = match pull / lowest {
        r if r < 0.5 => "supported here: the pull log's server holds markedly less per consumer",
        r if r < 0.8 => {
            "partly supported here: the pull log's server holds somewhat less per consumer"
        }
        _ => {
            "not supported here: a connected pull consumer costs the server about as much as (or more than) a push subscriber, because either way the server holds a connection and its buffers"
        }
    };
    Some(format!(
        "\"Pull brokers stay stateless, push servers keep state per consumer\": at {} subscribers the pull log's server held {} per connected consumer, {} the lowest push server's (push: {}). The claim is {verdict}.",
        text::count(f64::from(subscribers)),
        text::bytes(pull),
        text::ratio(pull / lowest),
        list.join(", ")
    ))
}

/// How one transport's memory per subscriber changed from the smallest to the largest count.
fn growth(
    s: &SubscriberSweep<'_>,
    transport: TransportKind,
    small: u32,
    large: u32,
) -> Option<String> {
    let mem = |n: u32| {
        s.at(n)
            .into_iter()
            .find(|p| p.transport == transport)
            .and_then(|p| p.server_bytes_per_subscriber)
    };
    let (a, b) = (mem(small)?, mem(large)?);
    if a <= 0.0 || b <= 0.0 {
        return None;
    }
    let shape = match b / a {
        r if (0.8..=1.25).contains(&r) => "roughly constant: a fixed cost per connection",
        r if r < 0.8 => "falling: a fixed start-up cost spread over more subscribers",
        _ => "growing: each subscriber costs more as their number grows",
    };
    Some(format!(
        "**{transport}** server memory per subscriber went from {} at {} to {} at {} subscribers ({}), {shape}.",
        text::bytes(a),
        text::count(f64::from(small)),
        text::bytes(b),
        text::count(f64::from(large)),
        text::ratio(b / a)
    ))
}
