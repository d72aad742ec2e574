//! `transport-bench compare BASELINE CANDIDATE`: a regression gate that knows about noise.
//!
//! One engine, two ways to pair runs. Unpaired (a stored baseline): [`input`] loads both sides
//! and pairs runs by name (repetitions grouped) → [`verdict`] applies the noise model per run
//! and metric, deciding each with [`judge`] → [`report`] renders Markdown for a pull-request
//! comment, [`chart`] a side-by-side PNG, [`export`] Bencher Metric Format and
//! github-action-benchmark JSON. Paired (`--paired`, A and B back to back): [`paired`]. Both
//! take one [`CompareOptions`] (bootstrap settings in [`stats`]), judge the one metric set of
//! [`crate::metric`] read by [`metric`], and write through [`write`].
//! [`CompareOutcome::exit`] (ok or regression) and [`CompareError::exit`] (bad input or a
//! failed write) say how the binary ends.
//!
//! The children import each other, never this file: it only declares, re-exports and runs
//! the unpaired flow.

pub mod chart;
pub(crate) mod comparable;
pub(crate) mod error;
pub(crate) mod export;
pub(crate) mod input;
pub(crate) mod judge;
pub(crate) mod metric;
pub(crate) mod options;
pub mod paired;
pub(crate) mod report;
pub(crate) mod stats;
pub(crate) mod verdict;
pub(crate) mod write;

use std::path::{Path, PathBuf};

use crate::exit::Exit;

pub use crate::metric::{Metric, Threshold, ThresholdOverride};
pub use error::CompareError;
pub use judge::{Basis, Verdict};
pub use options::CompareOptions;
pub use verdict::{Comparison, MetricComparison, RunComparison};
use write::OutDir;

/// What `run_compare` produced.
#[derive(Debug, Clone)]
pub struct CompareOutcome {
    /// The comparison itself.
    pub comparison: Comparison,
    /// The Markdown report (also written to `report.md` when an output folder was given).
    pub report_markdown: String,
    /// Files written.
    pub files: Vec<PathBuf>,
}

impl CompareOutcome {
    /// Whether something regressed.
    pub fn regressed(&self) -> bool {
        self.comparison.regressed()
    }

    /// How the binary ends: a regression, or ok (also when the verdicts are advisory).
    pub fn exit(&self) -> Exit {
        if self.regressed() && !self.comparison.advisory() {
            Exit::Regression
        } else {
            Exit::Ok
        }
    }

    /// The process exit code of [`CompareOutcome::exit`]: 4 or 0.
    pub fn exit_code(&self) -> u8 {
        self.exit().code()
    }
}

/// Compare two results (folders or `summary.json` files) without writing anything.
pub fn compare(
    baseline: &Path,
    candidate: &Path,
    opts: &CompareOptions,
) -> Result<Comparison, CompareError> {
    comparable::check(baseline, candidate)?;
    let base = input::Side::load(baseline)?;
    let cand = input::Side::load(candidate)?;
    let pairs = input::pair(&base, &cand)?;
    // Layering: defaults < the candidate scenario's [compare] table < the command line (already
    // in `opts.thresholds`, so it wins).
    let mut opts = opts.clone();
    for o in input::scenario_thresholds(&cand)? {
        opts.thresholds.entry(o.metric).or_insert(o.threshold);
    }
    let opts = &opts;
    let runs = pairs
        .iter()
        .map(|p| {
            let floor = input::floor_of(&pairs, p).map(|f| verdict::Floor {
                baseline: &f.baseline,
                candidate: &f.candidate,
            });
            verdict::compare_run(p.name, &p.baseline, &p.candidate, floor, opts)
        })
        .collect();
    Ok(Comparison {
        baseline_path: base.path.clone(),
        candidate_path: cand.path.clone(),
        baseline_commit: base.summary.environment.git_commit.clone(),
        candidate_commit: cand.summary.environment.git_commit.clone(),
        runs,
        warnings: input::environment_warnings(&base, &cand),
        other_machine: input::other_machine(&base, &cand),
        options: opts.clone(),
    })
}

/// The `compare` subcommand: compare, render the report, and write the outputs into
/// `opts.out_dir` if set. The caller prints `report_markdown` and exits as
/// [`CompareOutcome::exit`] says; on error, as [`CompareError::exit`] says.
pub fn run_compare(
    baseline: &Path,
    candidate: &Path,
    opts: &CompareOptions,
) -> Result<CompareOutcome, CompareError> {
    let comparison = compare(baseline, candidate, opts)?;
    let Some(dir) = &opts.out_dir else {
        let report_markdown = report::markdown(&comparison, None);
        return Ok(CompareOutcome {
            comparison,
            report_markdown,
            files: Vec::new(),
        });
    };
    let mut out = OutDir::create(dir)?;
    let chart_name = "compare.png";
    let png = out.path(chart_name);
    chart::draw(&comparison, &png)?;
    out.wrote(png);
    out.write_json("bencher.json", &export::bmf(&comparison))?;
    let (smaller, bigger) = export::github_action_benchmark(&comparison);
    out.write_json("github-action-benchmark-smaller.json", &smaller)?;
    out.write_json("github-action-benchmark-bigger.json", &bigger)?;
    // The report links the chart, so it is rendered once the chart exists.
    let report_markdown = report::markdown(&comparison, Some(chart_name));
    out.write("report.md", report_markdown.as_bytes())?;
    Ok(CompareOutcome {
        comparison,
        report_markdown,
        files: out.into_files(),
    })
}
