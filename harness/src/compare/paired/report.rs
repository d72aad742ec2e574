//! The paired gate's Markdown report (pasted into the pull request) and a JSON of verdicts
//! (for scripts: `scripts/gate-calibration.sh` counts regressions from it).

use serde_json::{Value, json};

use crate::compare::judge::Verdict;
use crate::compare::write::warnings_block;
use crate::metric::Metric;
use crate::text::trim_float;

use super::gate::{PairedComparison, PairedMetric};
use super::rule::PairBasis;

/// Marker on the first line, so CI can find and update its own comment.
pub const MARKER: &str = "<!-- transport-bench paired gate -->";

fn verdict_word(m: &PairedMetric) -> &'static str {
    match (m.judgement.verdict, m.gates) {
        (Verdict::Regressed, true) => "❌ regressed",
        (Verdict::Regressed, false) => "⚠️ worse (not gated)",
        (Verdict::Improved, _) => "✅ improved",
        (Verdict::WithinNoise, _) if m.judgement.basis == PairBasis::NotJudged => "– not judged",
        (Verdict::WithinNoise, _) => "within noise",
    }
}

/// A value in the unit a reader expects: bytes to 0.1, CPU and latency in µs, counts whole.
fn figure(metric: Metric, v: f64) -> String {
    match metric {
        Metric::OverheadBytes => format!("{} B", trim_float((v * 10.0).round() / 10.0)),
        Metric::ServerCpu | Metric::LoadCpu | Metric::P50 | Metric::P99 | Metric::P999 => {
            format!("{:.1} µs", v / 1000.0)
        }
        Metric::Lost => format!("{v:.0}"),
        Metric::Throughput => format!("{v:.0} msg/s"),
    }
}

fn rule_text(m: &PairedMetric) -> String {
    match m.judgement.basis {
        PairBasis::Ratios => format!(
            "interval above ×1, median beyond ×{}",
            trim_float(1.0 + m.threshold)
        ),
        PairBasis::Exact => format!("medians ±{} B", trim_float(m.threshold)),
        PairBasis::Worst => "any new loss".to_owned(),
        PairBasis::NotJudged => format!("needs {} pairs", super::rule::MIN_PAIRS),
    }
}

fn ratio_text(m: &PairedMetric) -> String {
    let r = m
        .judgement
        .ratio
        .map_or_else(|| "–".to_owned(), |r| format!("×{r:.3}"));
    match m.judgement.interval {
        Some(iv) => format!("{r} [{:.3}, {:.3}]", iv.lower, iv.upper),
        None => r,
    }
}

/// The whole report.
pub fn markdown(c: &PairedComparison) -> String {
    let mut s = String::new();
    s.push_str(MARKER);
    s.push('\n');
    let pairs = c.runs.iter().map(|r| r.pairs).max().unwrap_or(0);
    s.push_str(&format!(
        "## transport-bench paired gate: {}\n\n",
        if c.regressed() {
            "❌ regression"
        } else {
            "✅ no regression"
        }
    ));
    s.push_str(&format!(
        "Base `{}` and candidate `{}`, {pairs} pairs run side by side on one machine; each \
         metric is judged on the per-pair ratios candidate/base (bootstrap {}% interval of the \
         median ratio). Latency is {}.\n\n",
        c.base.commits().join(", "),
        c.candidate.commits().join(", "),
        trim_float(c.options.confidence * 100.0),
        if c.pinned {
            "gated: server and load generator were pinned to separate cores"
        } else {
            "reported only: server and load generator were not pinned apart, so the scheduler \
             decided whether they shared a core"
        }
    ));
    s.push_str(&warnings_block(&c.warnings));
    s.push_str("| transport | metric | base (median) | candidate (median) | ratio [interval] | rule | verdict |\n");
    s.push_str("|---|---|---:|---:|---:|---|---|\n");
    for run in &c.runs {
        for m in &run.metrics {
            let med = |v: &[f64]| {
                crate::compare::stats::median(v)
                    .map_or_else(|| "–".to_owned(), |x| figure(m.metric, x))
            };
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                run.transport,
                m.metric.label(),
                med(&m.base),
                med(&m.candidate),
                ratio_text(m),
                rule_text(m),
                verdict_word(m)
            ));
        }
    }
    let notes: Vec<String> = c
        .runs
        .iter()
        .flat_map(|r| {
            r.notes
                .iter()
                .map(move |n| format!("- {}: {n}", r.transport))
        })
        .collect();
    if !notes.is_empty() {
        s.push_str("\nNotes:\n");
        for n in notes {
            s.push_str(&n);
            s.push('\n');
        }
    }
    s
}

/// Every verdict as JSON: `{"regressed": bool, "runs": [{"name", "transport", "metrics":
/// [{"metric", "verdict", "gates", "ratio", "lower", "upper", "base", "candidate"}]}]}`.
pub fn verdicts_json(c: &PairedComparison) -> Value {
    let runs: Vec<Value> = c
        .runs
        .iter()
        .map(|r| {
            let metrics: Vec<Value> = r
                .metrics
                .iter()
                .map(|m| {
                    json!({
                        "metric": m.metric.key(),
                        "verdict": match m.judgement.verdict {
                            Verdict::Regressed => "regressed",
                            Verdict::Improved => "improved",
                            Verdict::WithinNoise => "within-noise",
                        },
                        "basis": format!("{:?}", m.judgement.basis).to_lowercase(),
                        "gates": m.gates,
                        "threshold": m.threshold,
                        "ratio": m.judgement.ratio,
                        "lower": m.judgement.interval.map(|i| i.lower),
                        "upper": m.judgement.interval.map(|i| i.upper),
                        "base": m.base,
                        "candidate": m.candidate,
                    })
                })
                .collect();
            json!({
                "name": r.name,
                "transport": r.transport,
                "pairs": r.pairs,
                "regressed": r.regressed(),
                "metrics": metrics,
            })
        })
        .collect();
    json!({
        "regressed": c.regressed(),
        "pinned": c.pinned,
        "runs": runs,
    })
}
