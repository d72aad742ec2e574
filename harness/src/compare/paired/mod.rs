//! `compare --paired BASE CANDIDATE`: the regression gate for runs taken in pairs on one
//! machine in one job (`scripts/ci-regression.sh --base REF`).
//!
//! Each side is a folder of results folders, one per repetition (`p01-websocket/`, …, in the
//! order they ran); the k-th repetition of a run on one side pairs with the k-th of the same
//! run on the other ([`load`]). [`gate`] judges every [`Metric::PAIRED`] metric on the
//! per-pair values with the rules of [`rule`], [`report`] renders the Markdown for the pull
//! request. Options, metrics, bootstrap and the output writer are the unpaired comparison's
//! own ([`crate::compare`]); comparing against a committed baseline recorded elsewhere stays
//! with the unpaired [`super::compare`].
//!
//! [`Metric::PAIRED`]: crate::metric::Metric::PAIRED

pub mod gate;
pub mod load;
pub mod report;
pub mod rule;

use std::path::{Path, PathBuf};

use super::error::CompareError;
use super::options::CompareOptions;
use super::write::OutDir;
pub use gate::{PairedComparison, PairedMetric, PairedRun, judge_run};

/// Load both sides, pair their repetitions and judge every run.
pub fn compare_paired(
    base: &Path,
    candidate: &Path,
    opts: &CompareOptions,
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
    opts: &CompareOptions,
) -> Result<PairedOutcome, CompareError> {
    let comparison = compare_paired(base, candidate, opts)?;
    let report_markdown = report::markdown(&comparison);
    let mut files = Vec::new();
    if let Some(dir) = &opts.out_dir {
        let mut out = OutDir::create(dir)?;
        out.write("report.md", report_markdown.as_bytes())?;
        out.write_json("verdicts.json", &report::verdicts_json(&comparison))?;
        files = out.into_files();
    }
    Ok(PairedOutcome {
        comparison,
        report_markdown,
        files,
    })
}
