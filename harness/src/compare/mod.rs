//! `transport-bench compare BASELINE CANDIDATE`: a regression gate that knows about noise.
//!
//! Flow: [`input`] loads both sides and pairs runs by name (repetitions grouped) →
//! [`verdict`] applies the noise model per run and metric → [`report`] renders Markdown for a
//! pull-request comment, [`chart`] a side-by-side PNG, [`export`] Bencher Metric Format and
//! github-action-benchmark JSON. [`CompareOutcome::exit`] (ok or regression) and
//! [`CompareError::exit`] (bad input or a failed write) say how the binary ends.

pub mod chart;
pub mod export;
pub mod input;
pub mod judge;
pub mod metric;
pub mod paired;
pub mod report;
pub mod stats;
pub mod verdict;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::exit::Exit;

pub use crate::metric::{Metric, Threshold, ThresholdOverride};
pub use judge::{Basis, Verdict};
pub use verdict::{MetricComparison, RunComparison};

/// Why a comparison could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A results file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A results file is not valid `summary.json`.
    #[error("{} is not a valid summary.json: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A results file has another schema version.
    #[error("{} has schema_version {}, this build reads {supported}", path.display(), found.map_or_else(|| "none".to_owned(), |v| v.to_string()))]
    Schema {
        /// The file.
        path: PathBuf,
        /// The version found, if any.
        found: Option<u64>,
        /// The version this build reads.
        supported: u32,
    },
    /// A results file holds no runs.
    #[error("{} holds no runs", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The two sides do not hold the same runs.
    #[error(
        "baseline (scenario `{baseline_scenario}`) and candidate (scenario `{candidate_scenario}`) hold different runs; only in baseline: [{}]; only in candidate: [{}]",
        only_baseline.join("; "), only_candidate.join("; ")
    )]
    Mismatch {
        /// Scenario name of the baseline.
        baseline_scenario: String,
        /// Scenario name of the candidate.
        candidate_scenario: String,
        /// Run names found only in the baseline.
        only_baseline: Vec<String>,
        /// Run names found only in the candidate.
        only_candidate: Vec<String>,
    },
    /// A paired comparison found runs whose repetitions do not pair up.
    #[error(
        "runs without a partner for every repetition (each run needs as many base as candidate repetitions): {}",
        runs.join("; ")
    )]
    Unpaired {
        /// Each unmatched run with its repetition counts.
        runs: Vec<String>,
    },
    /// A threshold could not be parsed.
    #[error(transparent)]
    Threshold(#[from] crate::metric::ThresholdError),
    /// An output file could not be written (not bad input: a failed run).
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The chart could not be drawn (not bad input: a failed run).
    #[error("cannot draw chart {}: {message}", path.display())]
    Chart {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl CompareError {
    /// Whether this is the user's input at fault rather than the environment.
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            CompareError::Write { .. } | CompareError::Chart { .. }
        )
    }

    /// How the binary ends on this error: bad input, or a failed run (an output not written).
    pub fn exit(&self) -> Exit {
        if self.is_bad_input() {
            Exit::BadInput
        } else {
            Exit::RunFailed
        }
    }

    /// The process exit code of [`CompareError::exit`]: 2 or 3.
    pub fn exit_code(&self) -> u8 {
        self.exit().code()
    }
}

/// How to compare; [`Default`] holds the documented defaults.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Per-metric minimum effects overriding [`Metric::default_threshold`].
    pub thresholds: BTreeMap<Metric, Threshold>,
    /// Relative threshold floor for noisy metrics when a side has one repetition (no noise
    /// estimate). Default 0.5 (50%).
    pub single_sample_threshold: f64,
    /// Relative minimum effect for a deterministic metric whose repetitions disagree by more
    /// than its threshold (wire overhead of a batching transport). Default 0.10 (10%).
    pub varies_min_effect: f64,
    /// Confidence of the bootstrap intervals. Default 0.95.
    pub confidence: f64,
    /// Bootstrap resamples per interval. Default 2000.
    pub resamples: usize,
    /// Seed of the bootstrap generator (reports are reproducible). Default 0.
    pub seed: u64,
    /// Judge latency and throughput of each transport by its ratio to the raw-TCP floor of the
    /// same repetition (cancels machine-wide noise). Default true.
    pub normalize_to_floor: bool,
    /// When the baseline ran on another CPU model or core count, report its verdicts but do
    /// not fail (the gate's handling of a committed baseline unless `--strict`). Default false.
    pub advisory_if_other_machine: bool,
    /// Folder to write `report.md`, `compare.png`, `bencher.json`,
    /// `github-action-benchmark-smaller.json` and `github-action-benchmark-bigger.json` into.
    pub out_dir: Option<PathBuf>,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            thresholds: BTreeMap::new(),
            single_sample_threshold: 0.5,
            varies_min_effect: 0.10,
            confidence: 0.95,
            resamples: 2000,
            seed: 0,
            normalize_to_floor: true,
            advisory_if_other_machine: false,
            out_dir: None,
        }
    }
}

impl CompareOptions {
    /// The threshold in force for `metric`.
    pub fn threshold(&self, metric: Metric) -> Threshold {
        self.thresholds
            .get(&metric)
            .copied()
            .unwrap_or_else(|| metric.default_threshold())
    }

    /// Apply overrides in order (later wins), e.g. from `[compare]` in a scenario, then the CLI.
    pub fn with_overrides(
        mut self,
        overrides: impl IntoIterator<Item = ThresholdOverride>,
    ) -> Self {
        for o in overrides {
            self.thresholds.insert(o.metric, o.threshold);
        }
        self
    }
}

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
    let mut files = Vec::new();
    let chart_name = "compare.png";
    let mut chart_written = false;
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
        let png = dir.join(chart_name);
        chart::draw(&comparison, &png)?;
        files.push(png);
        chart_written = true;
        let json = |v: &serde_json::Value| serde_json::to_vec_pretty(v).unwrap_or_default();
        files.push(write("bencher.json", &json(&export::bmf(&comparison)))?);
        let (smaller, bigger) = export::github_action_benchmark(&comparison);
        files.push(write(
            "github-action-benchmark-smaller.json",
            &json(&smaller),
        )?);
        files.push(write(
            "github-action-benchmark-bigger.json",
            &json(&bigger),
        )?);
    }
    let report_markdown = report::markdown(&comparison, chart_written.then_some(chart_name));
    if let Some(dir) = &opts.out_dir {
        let path = dir.join("report.md");
        std::fs::write(&path, &report_markdown).map_err(|source| CompareError::Write {
            path: path.clone(),
            source,
        })?;
        files.push(path);
    }
    Ok(CompareOutcome {
        comparison,
        report_markdown,
        files,
    })
}
