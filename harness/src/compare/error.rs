//! Why a comparison could not be made, and how the binary ends then: bad input (exit 2) or an
//! output that could not be written (a failed run). Shared by both comparisons.

use std::path::PathBuf;

use crate::exit::Exit;
use crate::metric::ThresholdError;

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
    /// The two sides are not the same experiment (see [`super::comparable`]).
    #[error(
        "will not compare: the {what} differs: baseline {} has {baseline_value}, candidate {} has {candidate_value}; refresh the baseline from the candidate's scenario and build",
        baseline.display(), candidate.display()
    )]
    Incomparable {
        /// What differs: `schema_version`, `scenario` or `transport set`.
        what: &'static str,
        /// The baseline's file.
        baseline: PathBuf,
        /// The baseline's value.
        baseline_value: String,
        /// The candidate's file.
        candidate: PathBuf,
        /// The candidate's value.
        candidate_value: String,
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
    Threshold(#[from] ThresholdError),
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
