//! `compare` end to end on synthetic results folders: the verdicts the issue asks for, exit
//! codes, mismatch handling, and the exports validated against their published formats.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use transport_bench::compare::{
    CompareError, CompareOptions, Metric, ThresholdOverride, Verdict, run_compare,
};

/// Figures of one synthetic repetition.
#[derive(Clone, Copy)]
struct Rep {
    p50: f64,
    p99: f64,
    throughput: f64,
    overhead: f64,
    lost: u64,
}

const BASE: Rep = Rep {
    p50: 20_000.0,
    p99: 50_000.0,
    throughput: 10_000.0,
    overhead: 12.0,
    lost: 0,
};

/// Spread factors for repetitions: about ±2% — "clear spread" that is still far smaller than
/// a 25% change.
const SPREAD: [f64; 5] = [1.0, 1.02, 0.98, 1.015, 0.985];

fn run_json(name: &str, transport: &str, repetition: u32, r: Rep) -> Value {
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
        "reordered": 0, "saturated": false, "saturation_reason": null, "status": "ok",
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

fn summary_json(runs: Vec<Value>) -> Value {
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

const NAMES: [(&str, &str); 2] = [
    ("payload=100,rate=10000,transport=raw-tcp", "raw-tcp"),
    ("payload=100,rate=10000,transport=websocket", "websocket"),
];

/// A results folder with `reps` repetitions of two runs; `change` alters the websocket run.
fn folder(dir: &Path, side: &str, reps: usize, change: impl Fn(Rep) -> Rep) -> PathBuf {
    let mut runs = Vec::new();
    for (i, factor) in SPREAD.iter().take(reps).enumerate() {
        for (name, transport) in NAMES {
            let mut r = BASE;
            r.p50 *= factor;
            r.p99 *= factor;
            r.throughput *= 2.0 - factor;
            if transport == "websocket" {
                r = change(r);
            }
            runs.push(run_json(name, transport, i as u32, r));
        }
    }
    let path = dir.join(side);
    std::fs::create_dir_all(&path).unwrap();
    let text = serde_json::to_string_pretty(&summary_json(runs)).unwrap();
    std::fs::write(path.join("summary.json"), text).unwrap();
    path
}

fn verdict_of(out: &transport_bench::compare::CompareOutcome, metric: Metric) -> Verdict {
    let run = out
        .comparison
        .runs
        .iter()
        .find(|r| r.transport == "websocket")
        .unwrap();
    run.metrics
        .iter()
        .find(|m| m.metric == metric)
        .unwrap()
        .verdict
}

#[test]
fn p99_25_percent_worse_with_clear_spread_is_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 5, |r| r);
    let cand = folder(dir.path(), "cand", 5, |r| Rep {
        p99: r.p99 * 1.25,
        ..r
    });
    let out = run_compare(&base, &cand, &CompareOptions::default()).unwrap();
    assert_eq!(verdict_of(&out, Metric::P99), Verdict::Regressed);
    assert_eq!(verdict_of(&out, Metric::P50), Verdict::WithinNoise);
    assert_eq!(out.exit_code(), 4);
    assert!(out.report_markdown.contains("🔴 regressed"));
    assert!(out.report_markdown.contains("p99 latency +25.0%"));
}

#[test]
fn two_percent_inside_the_noise_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 5, |r| r);
    let cand = folder(dir.path(), "cand", 5, |r| Rep {
        p99: r.p99 * 1.02,
        p50: r.p50 * 1.02,
        throughput: r.throughput * 0.98,
        ..r
    });
    let out = run_compare(&base, &cand, &CompareOptions::default()).unwrap();
    assert_eq!(verdict_of(&out, Metric::P99), Verdict::WithinNoise);
    assert_eq!(verdict_of(&out, Metric::Throughput), Verdict::WithinNoise);
    assert_eq!(out.exit_code(), 0);
    assert!(out.report_markdown.contains("No regression"));
}

#[test]
fn one_byte_more_overhead_per_message_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 3, |r| r);
    let cand = folder(dir.path(), "cand", 3, |r| Rep {
        overhead: r.overhead + 1.0,
        ..r
    });
    let out = run_compare(&base, &cand, &CompareOptions::default()).unwrap();
    assert_eq!(verdict_of(&out, Metric::OverheadBytes), Verdict::Regressed);
    assert_eq!(out.exit_code(), 4);
}

#[test]
fn a_lost_message_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 3, |r| r);
    let cand = folder(dir.path(), "cand", 3, |r| Rep { lost: 1, ..r });
    let out = run_compare(&base, &cand, &CompareOptions::default()).unwrap();
    assert_eq!(verdict_of(&out, Metric::Lost), Verdict::Regressed);
}

#[test]
fn single_sample_says_it_has_no_noise_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 1, |r| r);
    let cand = folder(dir.path(), "cand", 1, |r| Rep {
        p99: r.p99 * 1.25,
        ..r
    });
    let out = run_compare(&base, &cand, &CompareOptions::default()).unwrap();
    assert!(out.report_markdown.contains("No noise estimate"));
    assert!(out.report_markdown.contains("(no noise estimate)"));
    // 25% is below the single-sample threshold (50%)...
    assert_eq!(out.exit_code(), 0);
    // ...which is configurable.
    let opts = CompareOptions {
        single_sample_threshold: 0.2,
        ..CompareOptions::default()
    };
    let out = run_compare(&base, &cand, &opts).unwrap();
    assert_eq!(out.exit_code(), 4);
}

#[test]
fn command_line_thresholds_override_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 5, |r| r);
    let cand = folder(dir.path(), "cand", 5, |r| Rep {
        p99: r.p99 * 1.25,
        ..r
    });
    let o: ThresholdOverride = "p99=30%".parse().unwrap();
    let opts = CompareOptions::default().with_overrides([o]);
    let out = run_compare(&base, &cand, &opts).unwrap();
    assert_eq!(verdict_of(&out, Metric::P99), Verdict::WithinNoise);
    assert!(out.report_markdown.contains("p99 30%"));
}

#[test]
fn mismatched_runs_are_bad_input_naming_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 1, |r| r);
    let cand = dir.path().join("cand.json");
    let runs = vec![run_json(
        "payload=1000,transport=raw-tcp",
        "raw-tcp",
        0,
        BASE,
    )];
    std::fs::write(&cand, summary_json(runs).to_string()).unwrap();
    let err = run_compare(&base, &cand, &CompareOptions::default()).unwrap_err();
    assert!(matches!(err, CompareError::Mismatch { .. }), "{err}");
    assert_eq!(err.exit_code(), 2);
    let text = err.to_string();
    assert!(text.contains("only in baseline: [payload=100,rate=10000,transport=raw-tcp;"));
    assert!(text.contains("only in candidate: [payload=1000,transport=raw-tcp]"));
}

#[test]
fn unreadable_or_foreign_input_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 1, |r| r);
    let missing = dir.path().join("nope");
    let err = run_compare(&base, &missing, &CompareOptions::default()).unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{not json").unwrap();
    let err = run_compare(&base, &garbage, &CompareOptions::default()).unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    let future = dir.path().join("future.json");
    let mut s = summary_json(vec![run_json(NAMES[0].0, "raw-tcp", 0, BASE)]);
    s["schema_version"] = json!(999);
    std::fs::write(&future, s.to_string()).unwrap();
    let err = run_compare(&base, &future, &CompareOptions::default()).unwrap_err();
    assert!(matches!(err, CompareError::Schema { .. }), "{err}");
}

/// Bencher's published JSON Schema for BMF (<https://bencher.dev/bmf.json>), as documented on
/// <https://bencher.dev/docs/reference/bencher-metric-format>.
fn bmf_schema() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema",
        "type": "object",
        "patternProperties": {".+": {
            "type": "object",
            "patternProperties": {".+": {
                "type": "object",
                "properties": {
                    "value": {"type": "number"},
                    "lower_value": {"type": "number"},
                    "upper_value": {"type": "number"}
                },
                "required": ["value"]
            }}
        }}
    })
}

/// github-action-benchmark's custom tools read an array of `BenchmarkResult`
/// (`src/extract.ts`: `name: string; value: number; range?: string; unit: string;
/// extra?: string`). Stricter than the action: no other keys.
fn gab_schema() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema",
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "value": {"type": "number"},
                "unit": {"type": "string"},
                "range": {"type": "string"},
                "extra": {"type": "string"}
            },
            "required": ["name", "value", "unit"],
            "additionalProperties": false
        }
    })
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn exports_validate_against_their_published_formats() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 3, |r| r);
    let cand = folder(dir.path(), "cand", 3, |r| Rep {
        p99: r.p99 * 1.25,
        ..r
    });
    let out_dir = dir.path().join("out");
    let opts = CompareOptions {
        out_dir: Some(out_dir.clone()),
        ..CompareOptions::default()
    };
    let out = run_compare(&base, &cand, &opts).unwrap();
    assert_eq!(out.files.len(), 5);

    let bmf = read_json(&out_dir.join("bencher.json"));
    let errors: Vec<String> = jsonschema::validator_for(&bmf_schema())
        .unwrap()
        .iter_errors(&bmf)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let p99 = &bmf[NAMES[1].0]["latency-p99"];
    assert!(p99["lower_value"].as_f64().unwrap() <= p99["value"].as_f64().unwrap());
    assert!(p99["upper_value"].as_f64().unwrap() >= p99["value"].as_f64().unwrap());
    assert_eq!(bmf.as_object().unwrap().len(), 2);

    let gab = jsonschema::validator_for(&gab_schema()).unwrap();
    for (file, expected) in [
        ("github-action-benchmark-smaller.json", 2 * 5),
        ("github-action-benchmark-bigger.json", 2),
    ] {
        let v = read_json(&out_dir.join(file));
        let errors: Vec<String> = gab.iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{file}: {errors:?}");
        assert_eq!(v.as_array().unwrap().len(), expected, "{file}");
    }

    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(report.contains("](compare.png)"));
    let png = image::open(out_dir.join("compare.png")).unwrap().to_rgb8();
    assert_eq!(png.dimensions(), transport_bench::compare::chart::SIZE);
    let coloured = png
        .pixels()
        .filter(|p| p.0 == [214, 39, 40]) // the regressed candidate bar
        .count();
    assert!(coloured > 100, "regressed bar not drawn ({coloured} px)");
}

#[test]
fn chart_data_pairs_runs_per_metric() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 3, |r| r);
    let cand = folder(dir.path(), "cand", 3, |r| Rep {
        overhead: 13.0,
        ..r
    });
    let out = run_compare(&base, &cand, &CompareOptions::default()).unwrap();
    let panels = transport_bench::compare::chart::panels(&out.comparison);
    assert_eq!(panels.len(), Metric::ALL.len());
    let overhead = panels
        .iter()
        .find(|p| p.metric == Metric::OverheadBytes)
        .unwrap();
    let summary: Vec<(f64, f64, Verdict)> = overhead
        .bars
        .iter()
        .map(|b| (b.baseline, b.candidate, b.verdict))
        .collect();
    assert_eq!(
        summary,
        vec![
            (12.0, 12.0, Verdict::WithinNoise),
            (12.0, 13.0, Verdict::Regressed)
        ]
    );
}

#[test]
#[ignore = "writes a sample report to $COMPARE_SAMPLE_DIR for eyeballing"]
fn sample_report() {
    let dir = PathBuf::from(std::env::var("COMPARE_SAMPLE_DIR").unwrap());
    let base = folder(&dir, "base", 3, |r| r);
    let cand = folder(&dir, "cand", 3, |r| Rep {
        p99: r.p99 * 1.25,
        overhead: 13.0,
        ..r
    });
    let opts = CompareOptions {
        out_dir: Some(dir.join("out")),
        ..CompareOptions::default()
    };
    run_compare(&base, &cand, &opts).unwrap();
}
