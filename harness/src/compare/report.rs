//! The Markdown report: ready to paste into a pull-request comment.
//!
//! It leads with the answer (regressed or not, and where), then one table per run with every
//! metric's baseline, candidate, change and verdict, then how the verdicts were reached. Runs
//! without a regression are folded into `<details>` so a long matrix stays readable.

use std::fmt::Write as _;

use super::judge::{Basis, Verdict};
use super::stats::Interval;
use super::verdict::{Comparison, MetricComparison, RunComparison};
use super::write::warnings_block;
use crate::metric::{Kind, Metric, Threshold};
use crate::text::{nanos, trim_float};

/// Render the report; `chart` is the chart's file name relative to the report, if drawn.
///
/// It reads top to bottom as the answer, the notices that qualify it, one summary line per
/// run, the chart, each run's table, and how the verdicts were made: one function per part.
pub fn markdown(c: &Comparison, chart: Option<&str>) -> String {
    let mut out = String::new();
    headline(&mut out, c);
    notices(&mut out, c);
    // Tags every run shares are said once, so each row names only what differs.
    let common = common_tags(c);
    if !common.is_empty() && c.runs.len() > 1 {
        let _ = writeln!(out, "All runs: `{}`.\n", common.join(", "));
    }

    summary(&mut out, c, &common);
    if let Some(png) = chart {
        let _ = writeln!(
            out,
            "![baseline vs candidate per metric]({png})\n\n<sub>Grey: baseline, colour: \
             candidate (red regressed, green improved, blue within noise, orange floor moved); whiskers: \
             interval.</sub>\n"
        );
    }

    for (i, r) in c.runs.iter().enumerate() {
        run_section(&mut out, i, r, &common, c.options.varies_min_effect);
    }
    method(&mut out, c);
    out
}

/// The answer first: regressed or not, how many runs, and which commits.
fn headline(out: &mut String, c: &Comparison) {
    let regressed: Vec<&RunComparison> = c.runs.iter().filter(|r| r.regressed()).collect();
    let improved = c
        .runs
        .iter()
        .filter(|r| !r.regressed() && r.metrics.iter().any(|m| m.verdict == Verdict::Improved))
        .count();
    let headline = if regressed.is_empty() {
        format!("✅ No regression in {} runs", c.runs.len())
    } else {
        format!("❌ {} of {} runs regressed", regressed.len(), c.runs.len())
    };
    let _ = writeln!(out, "## transport-bench compare: {headline}\n");
    let _ = writeln!(
        out,
        "Baseline `{}` vs candidate `{}`.{}\n",
        short(&c.baseline_commit),
        short(&c.candidate_commit),
        if improved > 0 {
            format!(" {improved} run(s) improved without regressing.")
        } else {
            String::new()
        }
    );
}

/// What qualifies the verdicts: no noise estimate, a baseline from another machine, and the
/// environment differences between the sides.
fn notices(out: &mut String, c: &Comparison) {
    if c.runs
        .iter()
        .any(|r| r.metrics.iter().any(|m| m.basis == Basis::SingleSample))
    {
        let _ = writeln!(
            out,
            "> **No noise estimate**: some runs have a single repetition, so their latency and \
             throughput changes are gated only beyond {}. Use `run --repeat 3` (or more) on both \
             sides for a real noise model.\n",
            Threshold::Relative(c.options.single_sample_threshold)
        );
    }
    if let Some(other) = &c.other_machine {
        let _ = writeln!(
            out,
            "> **Baseline from another machine** ({other}): {}\n",
            if c.advisory() {
                "its verdicts are advisory (reported, not gated; `--strict` gates on them)."
            } else {
                "absolute figures are not comparable; read the verdicts with care."
            }
        );
    }
    out.push_str(&warnings_block(&c.warnings));
}

/// One line per run: its repetitions, verdict and regressed metrics.
fn summary(out: &mut String, c: &Comparison, common: &[String]) {
    // Summary: one line per run.
    out.push_str(
        "| # | run | reps (base/cand) | verdict | regressed metrics |\n|---|---|---|---|---|\n",
    );
    for (i, r) in c.runs.iter().enumerate() {
        let bad: Vec<String> = r
            .metrics
            .iter()
            .filter(|m| m.gates && m.verdict == Verdict::Regressed)
            .map(|m| format!("{} {}", m.metric.label(), change_text(m)))
            .chain(r.newly_saturated.then(|| "saturated".to_owned()))
            .collect();
        let _ = writeln!(
            out,
            "| {} | `{}` | {}/{} | {} | {} |",
            i + 1,
            short_name(&r.name, common),
            r.repetitions.0,
            r.repetitions.1,
            run_verdict(r),
            if bad.is_empty() {
                "—".to_owned()
            } else {
                bad.join(", ")
            }
        );
    }
    out.push('\n');
}

/// One run's heading (folded into `<details>` unless it regressed), table and notes.
fn run_section(
    out: &mut String,
    i: usize,
    r: &RunComparison,
    common: &[String],
    varies_min_effect: f64,
) {
    let fold = !r.regressed();
    if fold {
        let _ = writeln!(
            out,
            "<details><summary>#{} <code>{}</code>: {}</summary>\n",
            i + 1,
            short_name(&r.name, common),
            run_verdict(r)
        );
    } else {
        let _ = writeln!(
            out,
            "### #{} `{}`: {}\n",
            i + 1,
            short_name(&r.name, common),
            run_verdict(r)
        );
    }
    run_table(out, r, varies_min_effect);
    for n in &r.notes {
        let _ = writeln!(out, "- {n}");
    }
    if !r.notes.is_empty() {
        out.push('\n');
    }
    if fold {
        out.push_str("</details>\n\n");
    }
}

fn run_table(out: &mut String, r: &RunComparison, varies_min_effect: f64) {
    let floor = r.metrics.iter().any(|m| m.vs_floor.is_some());
    out.push_str("| metric | baseline (interval) | candidate (interval) | change |");
    out.push_str(if floor {
        " ratio to raw-tcp floor |"
    } else {
        ""
    });
    out.push_str(" threshold | verdict |\n|---|---:|---:|---:|");
    out.push_str(if floor { "---:|" } else { "" });
    out.push_str("---:|---|\n");
    for m in &r.metrics {
        let ratio = match (&m.vs_floor, floor) {
            (Some(j), _) => format!(
                " {:.2}× → {:.2}× ({}) |",
                j.baseline.center,
                j.candidate.center,
                j.change_rel
                    .map_or_else(|| "n/a".to_owned(), |r| format!("{:+.1}%", r * 100.0))
            ),
            (None, true) => " — |".to_owned(),
            (None, false) => String::new(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |{ratio} {} | {} |",
            m.metric.label(),
            with_interval(m.metric, m.baseline.center, m.baseline.interval),
            with_interval(m.metric, m.candidate.center, m.candidate.interval),
            change_text(m),
            if m.basis == Basis::Varies {
                format!(
                    "{} and {}",
                    threshold_text(m.metric, m.threshold),
                    Threshold::Relative(varies_min_effect)
                )
            } else {
                threshold_text(m.metric, m.threshold)
            },
            verdict_text(m)
        );
    }
    out.push('\n');
}

fn method(out: &mut String, c: &Comparison) {
    let o = &c.options;
    let thresholds: Vec<String> = Metric::UNPAIRED
        .iter()
        .map(|&m| format!("{} {}", m.key(), threshold_text(m, o.threshold(m))))
        .collect();
    let _ = writeln!(
        out,
        "<details><summary>How these verdicts are made</summary>\n\n\
         - Latency and throughput are noisy: each side's value is the median of its repetitions, \
         with a {conf}% bootstrap interval ({res} resamples, seed {seed}). *Regressed* needs the \
         intervals apart **and** a change beyond the minimum effect.\n\
         - Figures in parentheses: the {conf}% interval of the median (latency, throughput) or \
         the min–max of repetitions (overhead, lost).\n\
         - {floor}\n\
         - With one repetition on a side there is no noise estimate: the change is gated only \
         beyond {single}.\n\
         - Overhead bytes per message and lost messages are deterministic: compared directly \
         against the threshold (lost: the worst repetition). If repetitions disagree by more \
         than the threshold (a batching transport) the metric is marked *varies*: the ranges \
         must also be apart and the change beyond {varies}.\n\
         - A run whose candidate saturated (generator fell behind) where the baseline did not \
         counts as regressed.\n\
         - Minimum effects: {thr}. Override with `--threshold METRIC=VALUE` (`15%` relative, \
         `0.5` absolute).\n\
         - Baseline: `{base}`; candidate: `{cand}`.\n\n</details>",
        floor = if o.normalize_to_floor {
            "Each transport's latency and throughput are judged by their ratio to the raw-TCP \
             floor of the same repetition, which cancels machine-wide noise (a loaded CI box \
             slows every transport): a change counts only if the absolute figures and the \
             ratio agree. The floor's own latency and throughput are shown \
             on absolute values but not gated (it is the reference); `--absolute` judges and \
             gates every run on absolute values."
        } else {
            "Every run is judged on absolute values (`--absolute`)."
        },
        varies = Threshold::Relative(o.varies_min_effect),
        conf = trim_float(o.confidence * 100.0),
        res = o.resamples,
        seed = o.seed,
        single = Threshold::Relative(o.single_sample_threshold),
        thr = thresholds.join(", "),
        base = c.baseline_path.display(),
        cand = c.candidate_path.display(),
    );
}

fn run_verdict(r: &RunComparison) -> &'static str {
    if r.regressed() {
        "🔴 regressed"
    } else if r.metrics.iter().any(|m| m.verdict == Verdict::Improved) {
        "🟢 improved"
    } else if r.metrics.iter().any(|m| m.verdict == Verdict::Regressed) {
        "🟠 floor moved"
    } else {
        "⚪ within noise"
    }
}

/// The verdict of one metric, with how it was reached when that matters to the reader.
pub fn verdict_text(m: &MetricComparison) -> String {
    let base = match m.verdict {
        Verdict::Regressed if !m.gates => "🟠 floor moved (not gated)",
        Verdict::Regressed => "🔴 regressed",
        Verdict::Improved => "🟢 improved",
        Verdict::WithinNoise => match m.basis {
            Basis::Exact if m.change == 0.0 => "⚪ unchanged",
            Basis::Exact | Basis::SingleSample => "⚪ within threshold",
            Basis::Bootstrap | Basis::Varies => "⚪ within noise",
        },
    };
    match m.basis {
        Basis::SingleSample => format!("{base} (no noise estimate)"),
        Basis::Varies => format!("{base} (varies between repetitions)"),
        Basis::Bootstrap | Basis::Exact => base.to_owned(),
    }
}

fn change_text(m: &MetricComparison) -> String {
    if m.change == 0.0 {
        return "0".to_owned();
    }
    let abs = format!(
        "{}{}",
        if m.change > 0.0 { "+" } else { "−" },
        value_text(m.metric, m.change.abs())
    );
    match (m.metric.kind(), m.change_rel) {
        (Kind::Noisy, Some(rel)) => format!("{:+.1}%", rel * 100.0),
        (Kind::Deterministic, Some(rel)) => format!("{abs} ({:+.1}%)", rel * 100.0),
        (_, None) => abs,
    }
}

fn threshold_text(metric: Metric, t: Threshold) -> String {
    match t {
        Threshold::Relative(_) => t.to_string(),
        Threshold::Absolute(a) => value_text(metric, a),
    }
}

fn with_interval(metric: Metric, center: f64, interval: Option<Interval>) -> String {
    match interval {
        Some(iv) if iv.lower != iv.upper => format!(
            "{} ({}–{})",
            value_text(metric, center),
            bare_text(metric, iv.lower),
            bare_text(metric, iv.upper)
        ),
        _ => value_text(metric, center),
    }
}

/// A value in its metric's natural unit: latencies scaled to ns/µs/ms/s, throughput with
/// thousands separators.
pub fn value_text(metric: Metric, v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_owned();
    }
    match metric {
        Metric::P50 | Metric::P99 | Metric::P999 => nanos(v),
        Metric::ServerCpu | Metric::LoadCpu => format!("{}/msg", nanos(v)),
        Metric::Throughput => format!("{} msg/s", thousands(v.round() as i64)),
        Metric::OverheadBytes => format!("{} B", trim_float((v * 10.0).round() / 10.0)),
        Metric::Lost => thousands(v.round() as i64),
    }
}

/// A value without its unit, for interval bounds next to a value that has one.
fn bare_text(metric: Metric, v: f64) -> String {
    match metric {
        Metric::Throughput => thousands(v.round() as i64),
        Metric::OverheadBytes => trim_float((v * 10.0).round() / 10.0),
        _ => value_text(metric, v),
    }
}

fn thousands(v: i64) -> String {
    let digits = v.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if v < 0 { format!("-{out}") } else { out }
}

/// `key=value` tags present in every run's name.
fn common_tags(c: &Comparison) -> Vec<String> {
    let Some(first) = c.runs.first() else {
        return Vec::new();
    };
    first
        .name
        .split(',')
        .filter(|tag| c.runs.iter().all(|r| r.name.split(',').any(|t| t == *tag)))
        .map(str::to_owned)
        .collect()
}

/// A run name without the tags every run shares (the full name if nothing is left).
fn short_name(name: &str, common: &[String]) -> String {
    let rest: Vec<&str> = name
        .split(',')
        .filter(|t| !common.iter().any(|c| c == t))
        .collect();
    if rest.is_empty() {
        name.to_owned()
    } else {
        rest.join(",")
    }
}

fn short(commit: &str) -> String {
    commit.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_values() {
        assert_eq!(value_text(Metric::P99, 850.0), "850 ns");
        assert_eq!(value_text(Metric::P99, 45_230.0), "45.2 µs");
        assert_eq!(value_text(Metric::P99, 1_234_000.0), "1.23 ms");
        assert_eq!(
            value_text(Metric::Throughput, 1_234_567.4),
            "1,234,567 msg/s"
        );
        assert_eq!(value_text(Metric::OverheadBytes, 12.04), "12 B");
        assert_eq!(thousands(-1000), "-1,000");
    }
}
