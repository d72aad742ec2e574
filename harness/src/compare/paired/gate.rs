//! The paired gate's verdicts for every run: which pairs each metric is judged on, which rule
//! of [`super::rule`] judges it, and whether its regression fails the gate.

use crate::compare::judge::Verdict;
use crate::compare::metric::value;
use crate::compare::options::CompareOptions;
use crate::compare::stats::seed_for;
use crate::exit::Exit;
use crate::metric::Metric;
use crate::results::RunResult;

use super::load::PairedSide;
use super::rule::{self, PairBasis, PairJudgement, RatioRule};

/// One metric of one run, judged over its pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedMetric {
    /// Which metric.
    pub metric: Metric,
    /// Base values, pair by pair (pairs the metric could use).
    pub base: Vec<f64>,
    /// Candidate values, pair by pair.
    pub candidate: Vec<f64>,
    /// Relative threshold of the ratio rule, or bytes for the exact rule.
    pub threshold: f64,
    /// The rule's outcome.
    pub judgement: PairJudgement,
    /// Whether a regression here fails the gate (latency only under pinned placement).
    pub gates: bool,
}

/// One run (all pairs of one name).
#[derive(Debug, Clone, PartialEq)]
pub struct PairedRun {
    /// Run name (sorted tags).
    pub name: String,
    /// Transport.
    pub transport: crate::registry::TransportKind,
    /// Number of pairs.
    pub pairs: usize,
    /// One entry per metric, in [`Metric::PAIRED`] order.
    pub metrics: Vec<PairedMetric>,
    /// What a reader should know (invalid repetitions, unavailable figures).
    pub notes: Vec<String>,
}

impl PairedRun {
    /// Whether a gated metric regressed.
    pub fn regressed(&self) -> bool {
        self.metrics
            .iter()
            .any(|m| m.gates && m.judgement.verdict == Verdict::Regressed)
    }
}

/// A finished paired comparison.
#[derive(Debug, Clone)]
pub struct PairedComparison {
    /// Base side: folder and commit.
    pub base: PairedSide,
    /// Candidate side.
    pub candidate: PairedSide,
    /// Every run, in name order.
    pub runs: Vec<PairedRun>,
    /// Whether server and load generator were pinned to disjoint cores on both sides (latency
    /// is gated only then).
    pub pinned: bool,
    /// Differences between the sides that a reader should know.
    pub warnings: Vec<String>,
    /// The options used.
    pub options: CompareOptions,
}

impl PairedComparison {
    /// Whether any run regressed.
    pub fn regressed(&self) -> bool {
        self.runs.iter().any(PairedRun::regressed)
    }

    /// How the binary ends: a regression (4) or ok (0).
    pub fn exit(&self) -> Exit {
        if self.regressed() {
            Exit::Regression
        } else {
            Exit::Ok
        }
    }
}

/// Judge one run over its pairs.
pub fn judge_run(
    name: &str,
    base: &[&RunResult],
    candidate: &[&RunResult],
    pinned: bool,
    opts: &CompareOptions,
) -> PairedRun {
    // Runs are paired by name from runs present on both sides, so there is always one to
    // name the transport; the floor only stands in for a caller's empty slices.
    let transport = base
        .iter()
        .chain(candidate)
        .map(|r| r.transport)
        .next()
        .unwrap_or(crate::registry::FLOOR);
    let both_valid: Vec<bool> = base
        .iter()
        .zip(candidate)
        .map(|(a, b)| usable_latency(a) && usable_latency(b))
        .collect();
    // Latency of a repetition whose generator fell behind includes the generator's delay, so
    // such pairs are left out, unless that leaves too few to judge: a busy machine then makes
    // both load generators (on one core, at the same moment) late alike, and the ratio still
    // holds, while skipping latency altogether would wave a 10x regression through.
    let clean = both_valid.iter().filter(|v| **v).count() >= rule::MIN_PAIRS;
    let metrics = Metric::PAIRED
        .iter()
        .map(|&m| {
            let keep = |i: usize| !m.is_latency() || !clean || both_valid[i];
            let mut a = Vec::new();
            let mut b = Vec::new();
            for (i, (x, y)) in base.iter().zip(candidate).enumerate() {
                if let (true, Some(vx), Some(vy)) = (keep(i), value(m, x), value(m, y)) {
                    a.push(vx);
                    b.push(vy);
                }
            }
            judge_metric(name, m, a, b, pinned, opts)
        })
        .collect();
    PairedRun {
        name: name.to_owned(),
        transport,
        pairs: base.len(),
        metrics,
        notes: notes(base, candidate, &both_valid),
    }
}

fn usable_latency(r: &RunResult) -> bool {
    r.load.valid && !r.load.saturated
}

fn judge_metric(
    name: &str,
    metric: Metric,
    base: Vec<f64>,
    candidate: Vec<f64>,
    pinned: bool,
    opts: &CompareOptions,
) -> PairedMetric {
    let ratio_rule = |threshold: f64| RatioRule {
        threshold,
        confidence: opts.confidence,
        resamples: opts.resamples,
        seed: seed_for(&[&opts.seed.to_string(), name, metric.key()]),
    };
    let relative = opts.gate_threshold(metric);
    let (judgement, threshold) = match metric {
        Metric::Lost => (rule::worst(&base, &candidate), 0.0),
        Metric::OverheadBytes
            if rule::steady(&base, opts.exact_bytes)
                && rule::steady(&candidate, opts.exact_bytes) =>
        {
            (
                rule::exact(&base, &candidate, opts.exact_bytes),
                opts.exact_bytes,
            )
        }
        _ => (
            rule::by_ratios(&base, &candidate, ratio_rule(relative)),
            relative,
        ),
    };
    let gates = judgement.basis != PairBasis::NotJudged && (!metric.is_latency() || pinned);
    PairedMetric {
        metric,
        base,
        candidate,
        threshold,
        judgement,
        gates,
    }
}

fn notes(base: &[&RunResult], candidate: &[&RunResult], both_valid: &[bool]) -> Vec<String> {
    let mut notes = Vec::new();
    let dropped = both_valid.iter().filter(|v| !**v).count();
    if dropped > 0 {
        let what = if both_valid.len() - dropped >= rule::MIN_PAIRS {
            "their latency is left out"
        } else {
            "too few pairs would remain, so latency is judged on all pairs"
        };
        notes.push(format!(
            "{dropped} of {} pairs had a repetition whose load generator fell behind; {what}",
            both_valid.len()
        ));
    }
    let unmeasured = |runs: &[&RunResult]| {
        runs.iter()
            .filter(|r| !r.cost.resources.server.available || !r.cost.resources.load.available)
            .count()
    };
    let (ua, ub) = (unmeasured(base), unmeasured(candidate));
    if ua + ub > 0 {
        notes.push(format!(
            "CPU not measured in {ua} base and {ub} candidate repetitions (server in-process \
             or remote without metrics): those pairs are left out of the CPU verdicts"
        ));
    }
    let failed = |runs: &[&RunResult]| runs.iter().filter(|r| !r.status.is_ok()).count();
    let (fa, fb) = (failed(base), failed(candidate));
    if fa + fb > 0 {
        notes.push(format!(
            "failed repetitions: base {fa}/{}, candidate {fb}/{}",
            base.len(),
            candidate.len()
        ));
    }
    notes
}
