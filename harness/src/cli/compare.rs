//! `compare`: the subcommand's arguments and entry point over [`crate::compare`], which knows
//! nothing of the command line (the arrow points one way: cli → compare).
//!
//! Prints the Markdown report on stdout; returns [`Exit::Regression`] when something regressed,
//! [`Exit::Ok`] otherwise; errors come back as [`crate::compare::CompareError`], which says
//! whether the input was at fault.

use std::path::PathBuf;

use crate::compare::paired::run_paired;
use crate::compare::{CompareOptions, ThresholdOverride, run_compare};
use crate::exit::Exit;
use crate::metric::{GateThreshold, Threshold, parse_threshold};

/// Arguments of `compare`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompareArgs {
    /// Baseline results folder or summary.json.
    pub baseline: PathBuf,
    /// Candidate results folder or summary.json.
    pub candidate: PathBuf,
    /// Write report.md, compare.png, bencher.json and github-action-benchmark-*.json here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Minimum effect for a metric (repeatable): `p99=15%`, `throughput=3%`, `overhead=1`
    /// (bytes), `lost=0`. Metrics: throughput, p50, p99, p99.9, overhead, lost.
    #[arg(long = "threshold", value_name = "METRIC=VALUE")]
    pub thresholds: Vec<ThresholdOverride>,
    /// Threshold for latency and throughput when a side has a single repetition (no noise
    /// estimate).
    #[arg(long, value_name = "PERCENT", default_value = "50%", value_parser = parse_percent)]
    pub single_sample_threshold: f64,
    /// Confidence level of the bootstrap intervals.
    #[arg(long, default_value_t = 0.95, value_parser = parse_confidence)]
    pub confidence: f64,
    /// Seed of the bootstrap (the same inputs and seed give the same report).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Judge every metric on absolute values, not on each transport's ratio to the raw-TCP
    /// floor of the same repetition.
    #[arg(long)]
    pub absolute: bool,
    /// Paired mode: BASELINE and CANDIDATE are folders of results folders, one per
    /// repetition, taken in pairs on one machine (`scripts/ci-regression.sh --base REF`); each
    /// metric is judged on the per-pair ratios. Writes report.md and verdicts.json to --out.
    #[arg(long)]
    pub paired: bool,
    /// Paired mode: minimum effect of a gate metric (repeatable): `server-cpu=10%`. Metrics:
    /// overhead (when its framing varies), server-cpu, load-cpu, p50, p99.
    #[arg(
        long = "gate-threshold",
        value_name = "METRIC=PERCENT",
        requires = "paired"
    )]
    pub gate_thresholds: Vec<GateThreshold>,
    /// Unpaired mode: when the baseline ran on another CPU model or core count than the
    /// candidate, report its verdicts as advisory and exit 0 (what the gate does with a
    /// committed baseline unless asked to be strict).
    #[arg(long, conflicts_with = "paired")]
    pub advisory_if_other_machine: bool,
    /// Do not print the report on stdout.
    #[arg(long, short)]
    pub quiet: bool,
}

impl CompareArgs {
    /// The options these arguments describe, for either mode: each engine reads its own
    /// thresholds, and both read the bootstrap settings and the output folder.
    pub fn options(&self) -> CompareOptions {
        CompareOptions {
            single_sample_threshold: self.single_sample_threshold,
            confidence: self.confidence,
            seed: self.seed,
            normalize_to_floor: !self.absolute,
            advisory_if_other_machine: self.advisory_if_other_machine,
            out_dir: self.out.clone(),
            gate_thresholds: self
                .gate_thresholds
                .iter()
                .map(|t| (t.metric, t.relative))
                .collect(),
            ..CompareOptions::default()
        }
        .with_overrides(self.thresholds.iter().copied())
    }
}

fn parse_percent(s: &str) -> Result<f64, String> {
    match parse_threshold(s).map_err(|e| e.to_string())? {
        Threshold::Relative(r) => Ok(r),
        Threshold::Absolute(_) => Err(format!("{s:?} needs a % sign (e.g. 50%)")),
    }
}

fn parse_confidence(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(format!(
            "confidence {v} must be between 0 and 1 (e.g. 0.95)"
        ))
    }
}

fn execute_paired(args: &CompareArgs) -> anyhow::Result<Exit> {
    let outcome = run_paired(&args.baseline, &args.candidate, &args.options())?;
    if !args.quiet {
        println!("{}", outcome.report_markdown);
    }
    for f in &outcome.files {
        eprintln!("wrote {}", f.display());
    }
    Ok(outcome.comparison.exit())
}

/// Run `compare`: print the report, say whether something regressed.
pub fn execute(args: CompareArgs) -> anyhow::Result<Exit> {
    if args.paired {
        return execute_paired(&args);
    }
    let opts = args.options();
    let outcome = run_compare(&args.baseline, &args.candidate, &opts)?;
    if !args.quiet {
        println!("{}", outcome.report_markdown);
    }
    for f in &outcome.files {
        eprintln!("wrote {}", f.display());
    }
    Ok(outcome.exit())
}
