//! The report's "Same server, push vs pull" section on a summary built in code: each product's
//! push and pull runs are paired cell by cell and the better side named, every transport of
//! the section is ranked within a cell, MQTT is said to have no pull, and a figure that was not
//! measured prints as `unavailable`, never 0.
#![allow(clippy::unwrap_used)]

#[path = "charts/fixture.rs"]
#[allow(dead_code)]
mod fixture;

use transport_bench::results::{RunResult, Summary};

/// A run of `transport` at `rate` (None: closed loop) delivering `msgs` msg/s with p99 `p99_us`,
/// its server at `cpu_ns` per delivered message (None: not measured), limited by `limit`.
fn run(
    transport: &str,
    rate: Option<f64>,
    msgs: f64,
    p99_us: u64,
    cpu_ns: Option<f64>,
) -> RunResult {
    let mut r = fixture::run(transport, rate, 0);
    r.latency.throughput.msgs_per_sec = msgs;
    r.latency.latency_ns.p50 = p99_us * 500;
    r.latency.latency_ns.p99 = p99_us * 1_000;
    let server = &mut r.cost.resources.server.process;
    server.available = cpu_ns.is_some();
    server.cpu_ns_per_delivered = cpu_ns;
    server.rss_bytes_per_subscriber = cpu_ns.map(|_| 20_480.0);
    // `limited_by` through JSON, as a summary.json carries it.
    let mut v = serde_json::to_value(&r).unwrap();
    v["limited_by"] = serde_json::json!(if rate.is_none() {
        "server"
    } else {
        "offered-rate"
    });
    serde_json::from_value(v).unwrap()
}

/// (transport, closed-loop msg/s, p99 µs at 1K msg/s).
const FIGURES: [(&str, f64, u64); 8] = [
    ("nats-core", 500_000.0, 200),
    ("nats-push", 100_000.0, 300),
    ("nats-pull", 200_000.0, 900),
    ("redis-pubsub", 300_000.0, 250),
    ("redis-streams", 150_000.0, 700),
    ("mqtt", 20_000.0, 400),
    ("websocket", 250_000.0, 150),
    ("pull-log", 400_000.0, 1_200),
];

fn summary() -> Summary {
    let mut s = fixture::summary(&[]);
    for (t, max, p99) in FIGURES {
        // nats-pull's server was not measured at 1K msg/s: its CPU must print as unavailable.
        let cpu = (t != "nats-pull").then_some(2_000.0);
        s.runs.push(run(t, Some(1000.0), 1000.0, p99, cpu));
        s.runs.push(run(t, None, max, p99 * 10, Some(1_000.0)));
    }
    s
}

/// The section's text, from its heading to the next section.
fn section(summary: &Summary) -> String {
    let report = transport_bench::report::render(summary, &[]);
    let Some(start) = report.find("\n## Same server, push vs pull") else {
        return String::new();
    };
    let rest = &report[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_owned()
}

fn row<'a>(text: &'a str, starts: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(starts))
        .unwrap_or_else(|| panic!("no row starting `{starts}` in:\n{text}"))
}

#[test]
fn products_are_paired_cell_by_cell_and_the_better_side_named() {
    let text = section(&summary());
    // Closed loop ranks by msg/s: nats-pull 200K beats nats-push 100K; at 1K msg/s by p99.
    let closed = row(
        &text,
        "| NATS | nats-push / nats-pull | payload=100B,rate=max",
    );
    assert!(closed.contains("| 100K / 200K |"), "{closed}");
    assert!(closed.ends_with("| nats-pull |"), "{closed}");
    let open = row(
        &text,
        "| NATS | nats-push / nats-pull | payload=100B,rate=1000",
    );
    assert!(open.ends_with("| nats-push |"), "{open}");
    let core = row(
        &text,
        "| NATS | nats-core / nats-pull | payload=100B,rate=max",
    );
    assert!(core.ends_with("| nats-core |"), "{core}");
    let redis = row(
        &text,
        "| Redis | redis-pubsub / redis-streams | payload=100B,rate=max",
    );
    assert!(redis.ends_with("| redis-pubsub |"), "{redis}");
    let ours = row(
        &text,
        "| ours | websocket / pull-log | payload=100B,rate=max",
    );
    assert!(ours.ends_with("| pull-log |"), "{ours}");
    // MQTT has no pull: no pair, and the section says why.
    assert!(!text.contains("| mqtt /") && !text.contains("/ mqtt"));
    assert!(text.contains("MQTT has no pull"));
}

#[test]
fn every_transport_is_ranked_within_its_cell() {
    let text = section(&summary());
    let closed = row(&text, "- payload=100B,rate=max,subscribers=1 (by msg/s):");
    assert!(
        closed.ends_with(
            "nats-core > pull-log > redis-pubsub > websocket > nats-pull > redis-streams > nats-push > mqtt"
        ),
        "{closed}"
    );
    let open = row(&text, "- payload=100B,rate=1000,subscribers=1 (by p99):");
    assert!(
        open.ends_with(
            "websocket > nats-core > redis-pubsub > nats-push > mqtt > redis-streams > nats-pull > pull-log"
        ),
        "{open}"
    );
}

#[test]
fn the_headline_takes_max_from_closed_loop_and_the_rest_at_1k_with_its_limit() {
    let text = section(&summary());
    let redis = row(&text, "| Redis | pull | redis-streams |");
    // Max msg/s and what limited it from the closed loop; p99 at 1K msg/s; server CPU µs/msg
    // and KiB per subscriber from the 1K run.
    assert!(
        redis.contains("| 150K | server | 350 µs | 700 µs |"),
        "{redis}"
    );
    assert!(redis.contains("| 2 | 20 |"), "{redis}");
    let mqtt = row(&text, "| MQTT | push | mqtt |");
    assert!(mqtt.contains("| 20K | server |"), "{mqtt}");
}

#[test]
fn a_figure_not_measured_is_unavailable_never_zero() {
    let mut s = summary();
    // nats-core's 1K run measured no latency at all.
    for r in s.runs.iter_mut() {
        if r.transport.name() == "nats-core" && r.offered_rate.is_some() {
            r.latency.latency_ns.count = 0;
            r.latency.latency_ns.p50 = 0;
            r.latency.latency_ns.p99 = 0;
        }
    }
    let text = section(&s);
    let pull = row(&text, "| NATS | pull | nats-pull |");
    let cols: Vec<&str> = pull.split('|').map(str::trim).collect();
    // server | pattern | transport | max | limit | p50 | p99 | overhead | CPU | KiB/sub | notes
    assert_eq!(cols[9], "unavailable", "{pull}");
    assert_eq!(cols[10], "unavailable", "{pull}");
    let core = row(&text, "| NATS | push | nats-core |");
    let cols: Vec<&str> = core.split('|').map(str::trim).collect();
    assert_eq!((cols[6], cols[7]), ("unavailable", "unavailable"), "{core}");
    let pair = row(
        &text,
        "| NATS | nats-core / nats-pull | payload=100B,rate=1000",
    );
    assert!(pair.contains("unavailable / "), "{pair}");
    assert!(!pair.contains("| 0 ") && !pair.contains(" 0 ns"), "{pair}");
}

#[test]
fn no_section_without_a_product_pair() {
    let mut s = summary();
    s.runs
        .retain(|r| !matches!(r.transport.name(), "nats-pull" | "redis-streams"));
    assert_eq!(section(&s), "");
}
