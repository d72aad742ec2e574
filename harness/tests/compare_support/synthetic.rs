//! Synthetic results folders for the `compare` tests: two runs (the raw-TCP floor and
//! websocket) with a controllable change, written as real `summary.json` files.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// Figures of one synthetic repetition.
#[derive(Clone, Copy)]
pub struct Rep {
    pub p50: f64,
    pub p99: f64,
    pub throughput: f64,
    pub overhead: f64,
    pub lost: u64,
    pub saturated: bool,
}

pub const BASE: Rep = Rep {
    p50: 20_000.0,
    p99: 50_000.0,
    throughput: 10_000.0,
    overhead: 12.0,
    lost: 0,
    saturated: false,
};

/// Spread factors for repetitions: about ±2% — "clear spread" that is still far smaller than
/// a 25% change.
pub const SPREAD: [f64; 5] = [1.0, 1.02, 0.98, 1.015, 0.985];

pub fn run_json(name: &str, transport: &str, repetition: u32, r: Rep) -> Value {
    let pct = |p50: f64, p99: f64| {
        json!({"count": 10_000, "p50": p50 as u64, "p90": p99 as u64, "p99": p99 as u64,
               "p999": (p99 * 1.5) as u64, "max": (p99 * 2.0) as u64, "mean": p50, "min": 1_000})
    };
    let snap = json!({"read": 1, "written": 1, "handshake_read": 0, "handshake_written": 0,
                      "connections": 1});
    let tags: serde_json::Map<String, Value> = name
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
        .collect();
    json!({
        "name": name, "transport": transport, "repetition": repetition, "tags": tags,
        "offered_rate": 10_000.0, "subscribers": 1, "payload_bytes": 100, "measured_secs": 2.0,
        "published": 20_000, "delivered": 20_000 - r.lost, "lost": r.lost, "duplicated": 0,
        "reordered": 0, "saturated": r.saturated, "saturation_reason": null, "status": "ok",
        "failures": [],
        "throughput": {"msgs_per_sec": r.throughput, "payload_bytes_per_sec": r.throughput * 100.0,
                       "published_per_sec": 10_000.0},
        "latency_ns": pct(r.p50, r.p99), "latency_from_send_ns": pct(r.p50, r.p99),
        "schedule_lag_ns": pct(100.0, 1_000.0), "latency_spectrum": [],
        "wire": {"client_to_server_bytes": 1, "server_to_client_bytes": 1, "handshake_bytes": 0,
                 "payload_bytes_published": 1, "payload_bytes_delivered": 1,
                 "overhead_bytes_per_msg": r.overhead, "overhead_c2s_bytes_per_published": 4.0,
                 "overhead_s2c_bytes_per_delivered": 8.0, "efficiency": 0.9,
                 "client": snap, "server": snap},
        "messages_per_delivery_unit": {"count": 1, "mean": 1.0, "p50": 1, "p99": 1, "max": 1},
        "empty_delivery_units": 0, "counters": {}, "distributions": {}, "timeseries": [],
        "files": {"hgrm": "x.hgrm", "interval_log": "x.hlog"}
    })
}

pub fn summary_json(runs: Vec<Value>) -> Value {
    json!({
        "schema_version": transport_bench::results::SCHEMA_VERSION,
        "scenario": {"name": "synthetic", "description": "", "file": "synthetic.toml",
                     "effective": {"duration": "2s"}},
        "environment": {"tool_version": "0", "git_commit": "abc123", "rustc": "rustc",
                        "profile": "release", "cpu_model": "cpu", "cpu_count": 2,
                        "kernel": "k", "os": "linux", "hostname": "h",
                        "runtime_flavor": "multi-thread", "worker_threads": 2,
                        "socket": {"nodelay": true}, "started_at": "2026-01-01T00:00:00Z"},
        "runs": runs,
    })
}

pub const NAMES: [(&str, &str); 2] = [
    ("payload=100,rate=10000,transport=raw-tcp", "raw-tcp"),
    ("payload=100,rate=10000,transport=websocket", "websocket"),
];

/// A results folder with `reps` repetitions of two runs; `change` alters the websocket run.
pub fn folder(dir: &Path, side: &str, reps: usize, change: impl Fn(Rep) -> Rep) -> PathBuf {
    folder_with(dir, side, reps, |transport, _, r| {
        if transport == "websocket" {
            change(r)
        } else {
            r
        }
    })
}

/// A results folder whose every (transport, repetition) is altered by `change`. Each transport
/// gets its own order of spread factors, so ratios to the floor vary too.
pub fn folder_with(
    dir: &Path,
    side: &str,
    reps: usize,
    change: impl Fn(&str, usize, Rep) -> Rep,
) -> PathBuf {
    let mut runs = Vec::new();
    for i in 0..reps {
        for (k, (name, transport)) in NAMES.into_iter().enumerate() {
            let factor = SPREAD[(i + 2 * k) % SPREAD.len()];
            let mut r = BASE;
            r.p50 *= factor;
            r.p99 *= factor;
            r.throughput *= 2.0 - factor;
            runs.push(run_json(name, transport, i as u32, change(transport, i, r)));
        }
    }
    let path = dir.join(side);
    std::fs::create_dir_all(&path).unwrap();
    let text = serde_json::to_string_pretty(&summary_json(runs)).unwrap();
    std::fs::write(path.join("summary.json"), text).unwrap();
    path
}
