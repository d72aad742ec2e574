//! A synthetic summary: four transports (raw-tcp, long-poll, websocket, pull-log) at the
//! given offered rates, with plausible, deterministic figures.

use std::collections::BTreeMap;

use transport_bench::results::environment::Environment;
use transport_bench::results::summary::{
    IntervalPoint, Percentiles, QuantilePoint, RunFiles, ScenarioInfo, Throughput, Wire,
};
use transport_bench::results::{RunResult, SCHEMA_VERSION, Summary};
use transport_core::counters::DistributionSummary;

pub const TRANSPORTS: [&str; 4] = ["raw-tcp", "long-poll", "websocket", "pull-log"];

/// Per transport and rate: (p50 µs, p99 µs, saturated, overhead B/msg, msgs per unit, max-mode msgs/s).
fn profile(transport: &str, rate: Option<f64>) -> (f64, f64, bool, f64, f64, f64) {
    let r = rate.unwrap_or(1e6);
    match transport {
        "raw-tcp" => (30.0, 60.0 + r / 1e4, false, 4.0, 1.0 + r / 5e4, 700_000.0),
        "long-poll" => (
            120.0 + r / 200.0,
            if r > 5e4 { 80_000.0 } else { 400.0 + r / 20.0 },
            r > 5e4,
            412.0 / (1.0 + r / 4e3),
            1.1 + r / 3e3,
            60_000.0,
        ),
        "websocket" => (45.0, 110.0 + r / 1e3, false, 6.0, 1.0, 250_000.0),
        _ => (400.0, 2_000.0, false, 20.0, 5.0 + r / 250.0, 900_000.0),
    }
}

fn pct(p50_ns: u64, p99_ns: u64) -> Percentiles {
    Percentiles {
        count: 10_000,
        p50: p50_ns,
        p90: (p50_ns + p99_ns) / 2,
        p99: p99_ns,
        p999: p99_ns * 2,
        max: p99_ns * 4,
        mean: p50_ns as f64 * 1.2,
        min: p50_ns / 2,
    }
}

pub fn run(transport: &str, rate: Option<f64>, repetition: u32) -> RunResult {
    let (p50, p99, saturated, overhead, per_unit, max_rate) = profile(transport, rate);
    let (p50, p99) = (
        (p50 * 1e3) as u64,
        (p99 * 1e3) as u64 + u64::from(repetition) * 1_000,
    );
    let msgs = rate.unwrap_or(max_rate);
    let secs = 5u32;
    let rate_tag = rate.map_or("max".to_owned(), |r| r.to_string());
    let tags = BTreeMap::from([
        ("payload".to_owned(), "100B".to_owned()),
        ("rate".to_owned(), rate_tag.clone()),
        ("subscribers".to_owned(), "1".to_owned()),
        ("transport".to_owned(), transport.to_owned()),
    ]);
    let delivered = (msgs * f64::from(secs)) as u64;
    let spectrum: Vec<QuantilePoint> = [
        0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0,
    ]
    .iter()
    .map(|&q: &f64| {
        let nines = if q < 1.0 { -(1.0 - q).log10() } else { 5.0 };
        QuantilePoint {
            quantile: q,
            value_ns: (p50 as f64 * (p99 as f64 / p50 as f64).powf(nines / 2.0)) as u64,
        }
    })
    .collect();
    // Built as JSON and deserialized, like a real summary.json: fields the contract adds later
    // with `#[serde(default)]` need no change here.
    let value = serde_json::json!({
        "name": tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        "transport": transport.to_owned(),
        "repetition": repetition,
        "tags": tags,
        "offered_rate": rate,
        "subscribers": 1,
        "payload_bytes": 100,
        "measured_secs": f64::from(secs),
        "published": delivered,
        "delivered": delivered,
        "lost": 0,
        "duplicated": 0,
        "reordered": 0,
        "saturated": saturated,
        "saturation_reason": saturated.then(|| "schedule lag above 100ms".to_owned()),
        "status": "ok".to_owned(),
        "failures": [],
        "throughput": Throughput {
            msgs_per_sec: if saturated { msgs * 0.6 } else { msgs },
            payload_bytes_per_sec: msgs * 100.0,
            published_per_sec: msgs,
        },
        "latency_ns": pct(p50, p99),
        "latency_from_send_ns": pct(p50, p99),
        "schedule_lag_ns": pct(1_000, 5_000),
        "latency_spectrum": spectrum,
        "wire": Wire {
            client_to_server_bytes: delivered * 110,
            server_to_client_bytes: delivered * (100 + overhead as u64),
            handshake_bytes: 200,
            payload_bytes_published: delivered * 100,
            payload_bytes_delivered: delivered * 100,
            overhead_bytes_per_msg: overhead + 10.0,
            overhead_c2s_bytes_per_published: 10.0,
            overhead_s2c_bytes_per_delivered: overhead,
            efficiency: 200.0 / (210.0 + overhead),
            subscriber_c2s_bytes_per_delivered: 0.0,
            publisher_s2c_bytes_per_published: 0.0,
            client: Default::default(),
            server: Default::default(),
            server_mirrored: false,
            publisher: Default::default(),
            subscriber: Default::default(),
            plaintext: None,
        },
        "messages_per_delivery_unit": DistributionSummary {
            count: 1_000,
            mean: per_unit,
            p50: per_unit as u64,
            p99: (per_unit * 3.0) as u64,
            max: (per_unit * 5.0) as u64,
        },
        "empty_delivery_units": 0,
        "counters": {},
        "distributions": {},
        "timeseries": (0..secs)
            .map(|s| IntervalPoint {
                second: s,
                delivered: (msgs * (1.0 + 0.02 * f64::from(s % 2))) as u64,
                p50_ns: p50,
                p99_ns: p99 + u64::from(s) * 500,
                max_ns: p99 * 3,
                ..IntervalPoint::default()
            })
            .collect::<Vec<_>>(),
        "files": RunFiles {
            hgrm: format!("{transport}-{rate_tag}.hgrm"),
            interval_log: format!("{transport}-{rate_tag}.hlog"),
            latency_hdr: None,
        },

    });
    serde_json::from_value(value).expect("the fixture matches the summary.json contract")
}

pub fn summary(rates: &[Option<f64>]) -> Summary {
    let runs = TRANSPORTS
        .iter()
        .flat_map(|t| rates.iter().map(move |&r| run(t, r, 0)))
        .collect();
    Summary {
        schema_version: SCHEMA_VERSION,
        scenario: ScenarioInfo {
            name: "claims".to_owned(),
            description: "Synthetic sweep for chart tests.".to_owned(),
            file: "scenarios/claims.toml".to_owned(),
            effective: serde_json::json!({ "p99_target": "10ms" }),
        },
        environment: Environment {
            tool_version: "0.1.0".to_owned(),
            git_commit: "0000000".to_owned(),
            rustc: "rustc 1.88.0".to_owned(),
            profile: "release".to_owned(),
            cpu_model: "Test CPU".to_owned(),
            cpu_count: 2,
            kernel: "6.1".to_owned(),
            os: "linux x86_64".to_owned(),
            hostname: "test".to_owned(),
            runtime_flavor: "multi-thread".to_owned(),
            worker_threads: 2,
            socket: Default::default(),
            started_at: "2026-11-27T19:30:00Z".to_owned(),
            placement: None,
            tls: None,
        },
        runs,
        shard: None,
        merge: None,
    }
}
