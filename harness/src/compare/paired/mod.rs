//! `compare --paired BASE CANDIDATE`: the regression gate for runs taken in pairs on one
//! machine in one job (`scripts/ci-regression.sh --base REF`).
//!
//! Each side is a folder of results folders, one per repetition (`p01-websocket/`, …, in the
//! order they ran); the k-th repetition of a run on one side pairs with the k-th of the same
//! run on the other. [`rule`] judges every [`metric::GateMetric`] on the per-pair values,
//! [`report`] renders the Markdown for the pull request. Comparing against a committed
//! baseline recorded elsewhere stays with the unpaired [`super::compare`].

pub mod load;
pub mod metric;
pub mod report;
pub mod rule;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::exit::Exit;
use crate::results::RunResult;

use super::CompareError;
use super::stats::seed_for;
use super::verdict::Verdict;
use metric::GateMetric;
use rule::{PairBasis, PairJudgement, RatioRule};

/// How to judge a paired comparison; [`Default`] holds the documented defaults.
#[derive(Debug, Clone)]
pub struct PairedOptions {
    /// Per-metric minimum relative effects overriding [`GateMetric::default_threshold`].
    pub thresholds: BTreeMap<GateMetric, f64>,
    /// Absolute threshold for steady wire overhead, bytes per message. Default 0.5.
    pub exact_bytes: f64,
    /// Confidence of the bootstrap intervals. Default 0.95.
    pub confidence: f64,
    /// Bootstrap resamples. Default 2000.
    pub resamples: usize,
    /// Seed of the bootstrap. Default 0.
    pub seed: u64,
    /// Where to write `report.md` and `verdicts.json`.
    pub out_dir: Option<PathBuf>,
}

impl Default for PairedOptions {
    fn default() -> Self {
        PairedOptions {
            thresholds: BTreeMap::new(),
            exact_bytes: 0.5,
            confidence: 0.95,
            resamples: 2000,
            seed: 0,
            out_dir: None,
        }
    }
}

impl PairedOptions {
    /// The relative threshold in force for `metric`.
    pub fn threshold(&self, metric: GateMetric) -> f64 {
        self.thresholds
            .get(&metric)
            .copied()
            .unwrap_or_else(|| metric.default_threshold())
    }
}

/// One metric of one run, judged over its pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedMetric {
    /// Which metric.
    pub metric: GateMetric,
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
    /// One entry per metric, in [`GateMetric::ALL`] order.
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
    pub base: load::PairedSide,
    /// Candidate side.
    pub candidate: load::PairedSide,
    /// Every run, in name order.
    pub runs: Vec<PairedRun>,
    /// Whether server and load generator were pinned to disjoint cores on both sides (latency
    /// is gated only then).
    pub pinned: bool,
    /// Differences between the sides that a reader should know.
    pub warnings: Vec<String>,
    /// The options used.
    pub options: PairedOptions,
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

/// Load both sides, pair their repetitions and judge every run.
pub fn compare_paired(
    base: &Path,
    candidate: &Path,
    opts: &PairedOptions,
) -> Result<PairedComparison, CompareError> {
    let base = load::PairedSide::load(base)?;
    let candidate = load::PairedSide::load(candidate)?;
    let pairs = load::pair(&base, &candidate)?;
    let pinned = base.pinned() && candidate.pinned();
    let runs = pairs
        .iter()
        .map(|p| judge_run(p.name, &p.base, &p.candidate, pinned, opts))
        .collect();
    let warnings = load::warnings(&base, &candidate);
    Ok(PairedComparison {
        base,
        candidate,
        runs,
        pinned,
        warnings,
        options: opts.clone(),
    })
}

/// Judge one run over its pairs.
pub fn judge_run(
    name: &str,
    base: &[&RunResult],
    candidate: &[&RunResult],
    pinned: bool,
    opts: &PairedOptions,
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
    let metrics = GateMetric::ALL
        .iter()
        .map(|&m| {
            let keep = |i: usize| !m.is_latency() || !clean || both_valid[i];
            let mut a = Vec::new();
            let mut b = Vec::new();
            for (i, (x, y)) in base.iter().zip(candidate).enumerate() {
                if let (true, Some(vx), Some(vy)) = (keep(i), m.value(x), m.value(y)) {
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
    metric: GateMetric,
    base: Vec<f64>,
    candidate: Vec<f64>,
    pinned: bool,
    opts: &PairedOptions,
) -> PairedMetric {
    let ratio_rule = |threshold: f64| RatioRule {
        threshold,
        confidence: opts.confidence,
        resamples: opts.resamples,
        seed: seed_for(&[&opts.seed.to_string(), name, metric.key()]),
    };
    let relative = opts.threshold(metric);
    let (judgement, threshold) = match metric {
        GateMetric::Lost => (rule::worst(&base, &candidate), 0.0),
        GateMetric::OverheadBytes
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

/// What [`run_paired`] produced.
#[derive(Debug, Clone)]
pub struct PairedOutcome {
    /// The comparison.
    pub comparison: PairedComparison,
    /// The Markdown report (also `report.md` in the output folder).
    pub report_markdown: String,
    /// Files written.
    pub files: Vec<PathBuf>,
}

/// Compare, render the report, and write `report.md` and `verdicts.json` into
/// `opts.out_dir` when set.
pub fn run_paired(
    base: &Path,
    candidate: &Path,
    opts: &PairedOptions,
) -> Result<PairedOutcome, CompareError> {
    let comparison = compare_paired(base, candidate, opts)?;
    let report_markdown = report::markdown(&comparison);
    let mut files = Vec::new();
    if let Some(dir) = &opts.out_dir {
        let write = |name: &str, bytes: &[u8]| -> Result<PathBuf, CompareError> {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|source| CompareError::Write {
                path: path.clone(),
                source,
            })?;
            Ok(path)
        };
        std::fs::create_dir_all(dir).map_err(|source| CompareError::Write {
            path: dir.clone(),
            source,
        })?;
        files.push(write("report.md", report_markdown.as_bytes())?);
        let json =
            serde_json::to_vec_pretty(&report::verdicts_json(&comparison)).unwrap_or_default();
        files.push(write("verdicts.json", &json)?);
    }
    Ok(PairedOutcome {
        comparison,
        report_markdown,
        files,
    })
}
