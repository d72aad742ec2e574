//! Per run and metric: the change from baseline to candidate and whether it is a regression,
//! an improvement, or within noise (the decision itself, and the words it decides in, are in
//! [`super::judge`]).
//!
//! A committed baseline was measured at another time, on a machine in another state: on a
//! shared 2-core box every transport can be 30% slower today because something else is
//! compiling. The raw-TCP floor runs in the same repetition as every transport, so for noisy
//! metrics the verdict of a non-floor run is taken on its ratio to the floor, repetition by
//! repetition (ANCHORS: "always run the raw-TCP floor in the same run so comparisons are
//! ratios"). A machine-wide slowdown moves both and cancels; a slower transport does not.
//! A change counts only when the absolute figures and the ratio agree (CPU contention does not
//! slow every transport by exactly the same factor, so the ratio alone is not enough). The
//! floor's own latency and throughput are compared in absolute terms and reported, not gated
//! (its wire overhead and losses still gate). `CompareOptions::normalize_to_floor = false`
//! (`--absolute`) judges and gates everything on absolute values.

use std::path::PathBuf;

use crate::results::RunResult;

use super::judge::{Basis, Judgement, SideStats, Verdict, judge};
use super::metric::value;
use super::options::CompareOptions;
use crate::metric::{Kind, Metric, Threshold};

use crate::registry::{FLOOR, TransportKind};

/// A finished comparison.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The baseline `summary.json`.
    pub baseline_path: PathBuf,
    /// The candidate `summary.json`.
    pub candidate_path: PathBuf,
    /// Baseline git commit (from its environment).
    pub baseline_commit: String,
    /// Candidate git commit.
    pub candidate_commit: String,
    /// One entry per run name, in name order.
    pub runs: Vec<RunComparison>,
    /// Environment or settings differences worth knowing.
    pub warnings: Vec<String>,
    /// How the baseline's machine differs from the candidate's (CPU model or core count), if
    /// it does.
    pub other_machine: Option<String>,
    /// The options used (thresholds as in force).
    pub options: CompareOptions,
}

impl Comparison {
    /// Whether any run regressed.
    pub fn regressed(&self) -> bool {
        self.runs.iter().any(RunComparison::regressed)
    }

    /// Whether the verdicts are advisory: the baseline came from another machine and the
    /// options ask for advice, not a gate, in that case.
    pub fn advisory(&self) -> bool {
        self.options.advisory_if_other_machine && self.other_machine.is_some()
    }
}

/// The comparison of one metric of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricComparison {
    /// Which metric.
    pub metric: Metric,
    /// Baseline figures (absolute).
    pub baseline: SideStats,
    /// Candidate figures (absolute).
    pub candidate: SideStats,
    /// Candidate minus baseline, in the metric's unit.
    pub change: f64,
    /// Change relative to the baseline; `None` when the baseline is zero.
    pub change_rel: Option<f64>,
    /// What the absolute figures alone would say.
    pub absolute_verdict: Verdict,
    /// The same metric as a ratio to the raw-TCP floor of the same repetition; when present,
    /// the verdict needs it and the absolute verdict to agree.
    pub vs_floor: Option<Judgement>,
    /// The threshold applied by the deciding judgement.
    pub threshold: Threshold,
    /// How the deciding judgement was reached.
    pub basis: Basis,
    /// The verdict.
    pub verdict: Verdict,
    /// Whether a regression here fails the gate. False for the floor's own latency and
    /// throughput in floor-relative mode: the floor is the reference that absorbs machine
    /// noise, so its movement is reported, not gated.
    pub gates: bool,
}

/// The comparison of one run (all repetitions of one name).
#[derive(Debug, Clone, PartialEq)]
pub struct RunComparison {
    /// Run name (sorted tags).
    pub name: String,
    /// Transport of the run.
    pub transport: TransportKind,
    /// Baseline and candidate repetition counts.
    pub repetitions: (usize, usize),
    /// One entry per metric, in [`Metric::UNPAIRED`] order.
    pub metrics: Vec<MetricComparison>,
    /// The candidate's generator fell behind in most repetitions where the baseline's did in
    /// at most half: at the same offered rate it could not keep up, a regression whatever the
    /// percentiles say. (A single saturated repetition out of three is noise on a busy box.)
    pub newly_saturated: bool,
    /// Things a reader should know (saturation, failed runs, the floor moving).
    pub notes: Vec<String>,
}

impl RunComparison {
    /// Whether anything about this run regressed.
    pub fn regressed(&self) -> bool {
        self.newly_saturated
            || self
                .metrics
                .iter()
                .any(|m| m.gates && m.verdict == Verdict::Regressed)
    }
}

/// The floor runs (same tags, transport raw-tcp) of both sides, when they exist.
#[derive(Debug, Clone, Copy)]
pub struct Floor<'a> {
    /// Baseline floor repetitions.
    pub baseline: &'a [&'a RunResult],
    /// Candidate floor repetitions.
    pub candidate: &'a [&'a RunResult],
}

/// Compare every metric of one run; `floor` is the matching raw-TCP run, if any.
pub fn compare_run(
    name: &str,
    baseline: &[&RunResult],
    candidate: &[&RunResult],
    floor: Option<Floor<'_>>,
    opts: &CompareOptions,
) -> RunComparison {
    // Runs are paired by name from runs present on both sides, so there is always one to
    // name the transport; the floor only stands in for a caller's empty slices.
    let transport = baseline
        .iter()
        .chain(candidate)
        .map(|r| r.transport)
        .next()
        .unwrap_or(FLOOR);
    let floor = floor.filter(|_| opts.normalize_to_floor && transport != FLOOR);
    let is_floor = transport == FLOOR;
    let metrics: Vec<MetricComparison> = Metric::UNPAIRED
        .iter()
        .map(|&m| {
            let mut mc = compare_metric(name, m, baseline, candidate, floor, opts);
            mc.gates = !(is_floor && opts.normalize_to_floor && m.kind() == Kind::Noisy);
            mc
        })
        .collect();
    let saturated = |runs: &[&RunResult]| runs.iter().filter(|r| r.load.saturated).count();
    let (bs, cs) = (saturated(baseline), saturated(candidate));
    let notes = run_notes(baseline, candidate, &metrics);
    RunComparison {
        name: name.to_owned(),
        transport,
        repetitions: (baseline.len(), candidate.len()),
        metrics,
        newly_saturated: cs * 2 > candidate.len() && bs * 2 <= baseline.len(),
        notes,
    }
}

/// What a reader should know about one run beside its verdicts: saturation, failed
/// repetitions, the floor moving, and absolute figures that disagree with the floor ratios.
fn run_notes(
    baseline: &[&RunResult],
    candidate: &[&RunResult],
    metrics: &[MetricComparison],
) -> Vec<String> {
    let saturated = |runs: &[&RunResult]| runs.iter().filter(|r| r.load.saturated).count();
    let failed = |runs: &[&RunResult]| runs.iter().filter(|r| !r.status.is_ok()).count();
    let (bs, cs) = (saturated(baseline), saturated(candidate));
    let (bf, cf) = (failed(baseline), failed(candidate));
    let mut notes = Vec::new();
    if bs > 0 {
        notes.push(format!(
            "baseline saturated in {bs}/{} repetitions: its latency describes overload",
            baseline.len()
        ));
    }
    if cs > 0 {
        let reason = candidate
            .iter()
            .find_map(|r| r.load.saturation_reason.clone())
            .unwrap_or_else(|| "generator fell behind".to_owned());
        notes.push(format!(
            "candidate saturated in {cs}/{} repetitions ({reason})",
            candidate.len()
        ));
    }
    if bf + cf > 0 {
        notes.push(format!(
            "failed repetitions: baseline {bf}/{}, candidate {cf}/{}",
            baseline.len(),
            candidate.len()
        ));
    }
    notes.extend(metric_notes(metrics));
    notes
}

/// What the metrics' verdicts say about the machine rather than the change.
fn metric_notes(metrics: &[MetricComparison]) -> Vec<String> {
    let mut notes = Vec::new();
    if metrics
        .iter()
        .any(|m| !m.gates && m.verdict == Verdict::Regressed)
    {
        notes.push(
            "this is the raw-TCP floor and its latency or throughput moved beyond noise; it is \
             the reference the transports are judged against, so this is reported, not gated: \
             on a shared machine it is usually the machine. A harness or raw-tcp change would \
             also show here (and in `cargo bench`); `--absolute` gates on it."
                .to_owned(),
        );
    }
    let disagree: Vec<&str> = metrics
        .iter()
        .filter(|m| {
            m.vs_floor
                .as_ref()
                .is_some_and(|f| f.verdict != m.absolute_verdict)
        })
        .map(|m| m.metric.label())
        .collect();
    if !disagree.is_empty() {
        notes.push(format!(
            "absolute figures and ratios to the raw-TCP floor disagree on {}: the machine \
             behaved differently between baseline and candidate, so those changes do not count",
            disagree.join(", ")
        ));
    }
    notes
}

/// Compare one metric of one run, against the floor when one is given and the metric is noisy.
pub fn compare_metric(
    name: &str,
    metric: Metric,
    baseline: &[&RunResult],
    candidate: &[&RunResult],
    floor: Option<Floor<'_>>,
    opts: &CompareOptions,
) -> MetricComparison {
    let values = |runs: &[&RunResult]| runs.iter().map(|r| figure(metric, r)).collect::<Vec<_>>();
    let absolute = judge(name, metric, &values(baseline), &values(candidate), opts);
    let vs_floor = floor
        .filter(|_| metric.kind() == Kind::Noisy)
        .and_then(|f| {
            let b = ratios(metric, baseline, f.baseline)?;
            let c = ratios(metric, candidate, f.candidate)?;
            Some(judge(&format!("{name}/floor"), metric, &b, &c, opts))
        });
    let decided = vs_floor.as_ref().unwrap_or(&absolute);
    // With a floor, a change counts only if the absolute figures and the ratio to the floor
    // agree: a loaded machine moves the absolute figures alone, and a floor that happened to
    // run faster moves the ratio alone. A real transport change moves both.
    let verdict = match &vs_floor {
        Some(f) if f.verdict == absolute.verdict => f.verdict,
        Some(_) => Verdict::WithinNoise,
        None => absolute.verdict,
    };
    MetricComparison {
        metric,
        threshold: decided.threshold,
        basis: decided.basis,
        verdict,
        absolute_verdict: absolute.verdict,
        baseline: absolute.baseline,
        candidate: absolute.candidate,
        change: absolute.change,
        change_rel: absolute.change_rel,
        vs_floor,
        gates: true,
    }
}

/// A run's value of `metric`. Every metric of [`Metric::UNPAIRED`] is always measured; NaN,
/// which never makes a verdict, would stand for one that was not.
fn figure(metric: Metric, run: &RunResult) -> f64 {
    value(metric, run).unwrap_or(f64::NAN)
}

/// Per-repetition ratios of a run's metric to its floor's, paired by repetition index; `None`
/// if a repetition has no floor partner or the floor value is zero (no ratio to take).
fn ratios(metric: Metric, runs: &[&RunResult], floor: &[&RunResult]) -> Option<Vec<f64>> {
    runs.iter()
        .map(|r| {
            let f = floor.iter().find(|f| f.repetition == r.repetition)?;
            let fv = figure(metric, f);
            (fv > 0.0 && fv.is_finite()).then(|| figure(metric, r) / fv)
        })
        .collect()
}
