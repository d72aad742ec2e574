//! Exports of the candidate's figures for continuous-benchmarking services.
//!
//! - Bencher Metric Format (<https://bencher.dev/docs/reference/bencher-metric-format>): an
//!   object keyed by benchmark name, each an object keyed by measure slug, each
//!   `{"value", "lower_value", "upper_value"}` (bounds optional). Bounds are the bootstrap
//!   interval of the median (noisy metrics) or the repetition range (deterministic ones), so
//!   Bencher's own statistical thresholds see our noise too.
//! - github-action-benchmark's `customSmallerIsBetter` / `customBiggerIsBetter` tools: a JSON
//!   array of `{"name", "unit", "value", "range"?, "extra"?}` (`range` and `extra` are
//!   strings). One file per tool because the tool, not the entry, says which way is better.

use serde_json::{Map, Value, json};

use super::judge::Basis;
use super::verdict::{Comparison, MetricComparison};
use crate::metric::{Direction, Metric};
use crate::text::trim_float;

/// Bencher measure slug for a metric (the slug is lower-case kebab-case, ≤ 64 characters).
pub fn bmf_measure(metric: Metric) -> &'static str {
    match metric {
        // Bencher's built-in measures: `latency` is in ns, `throughput` in operations/s.
        Metric::Throughput => "throughput",
        Metric::P50 => "latency-p50",
        Metric::P99 => "latency-p99",
        Metric::P999 => "latency-p99-9",
        Metric::OverheadBytes => "overhead-bytes-per-msg",
        Metric::Lost => "lost-messages",
        Metric::ServerCpu => "server-cpu-per-msg",
        Metric::LoadCpu => "load-cpu-per-msg",
    }
}

/// The candidate's figures in Bencher Metric Format.
pub fn bmf(comparison: &Comparison) -> Value {
    let mut benchmarks = Map::new();
    for run in &comparison.runs {
        let mut measures = Map::new();
        for mc in &run.metrics {
            let mut metric = Map::new();
            metric.insert("value".into(), number(mc.candidate.center));
            if let Some(iv) = mc.candidate.interval {
                metric.insert("lower_value".into(), number(iv.lower));
                metric.insert("upper_value".into(), number(iv.upper));
            }
            measures.insert(bmf_measure(mc.metric).into(), Value::Object(metric));
        }
        benchmarks.insert(run.name.clone(), Value::Object(measures));
    }
    Value::Object(benchmarks)
}

/// The candidate's figures for github-action-benchmark: (`customSmallerIsBetter` entries,
/// `customBiggerIsBetter` entries).
pub fn github_action_benchmark(comparison: &Comparison) -> (Value, Value) {
    let mut smaller = Vec::new();
    let mut bigger = Vec::new();
    for run in &comparison.runs {
        for mc in &run.metrics {
            let entry = gab_entry(&run.name, mc, comparison.options.confidence);
            match mc.metric.direction() {
                Direction::SmallerIsBetter => smaller.push(entry),
                Direction::BiggerIsBetter => bigger.push(entry),
            }
        }
    }
    (Value::Array(smaller), Value::Array(bigger))
}

fn gab_entry(run: &str, mc: &MetricComparison, confidence: f64) -> Value {
    let reps = mc.candidate.values.len();
    let mut extra = format!(
        "{reps} repetition{}; baseline {}",
        if reps == 1 { "" } else { "s" },
        trim_float(mc.baseline.center)
    );
    let mut entry = json!({
        "name": format!("{run} {}", mc.metric.label()),
        "unit": mc.metric.unit(),
        "value": number(mc.candidate.center),
    });
    match (mc.basis, mc.candidate.interval) {
        (Basis::Bootstrap, Some(iv)) => {
            extra.push_str(&format!(
                "; {}% CI of median [{}, {}]",
                trim_float(confidence * 100.0),
                trim_float(iv.lower),
                trim_float(iv.upper)
            ));
            entry["range"] = Value::String(format!("± {}", trim_float(iv.half_width())));
        }
        (_, Some(iv)) => {
            extra.push_str(&format!(
                "; range [{}, {}]",
                trim_float(iv.lower),
                trim_float(iv.upper)
            ));
            entry["range"] = Value::String(format!("± {}", trim_float(iv.half_width())));
        }
        (_, None) => extra.push_str("; no noise estimate"),
    }
    entry["extra"] = Value::String(extra);
    entry
}

/// JSON number, with non-finite values (a metric that was NaN) mapped to 0 so the output stays
/// valid JSON; such runs are flagged in the report anyway.
fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::from(0), Value::Number)
}
