//! How to compare: one set of options for both comparisons. The bootstrap settings
//! (confidence, resamples, seed) and the output folder mean the same to the unpaired comparison
//! and the paired gate, so they are set once; each engine reads the thresholds of its own rule.
//! [`Default`] holds the documented defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::metric::{Metric, Threshold, ThresholdOverride};

/// How to compare; [`Default`] holds the documented defaults.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Unpaired: per-metric minimum effects overriding [`Metric::default_threshold`].
    pub thresholds: BTreeMap<Metric, Threshold>,
    /// Paired: per-metric minimum relative effects of the ratio rule, overriding
    /// [`Metric::default_gate_threshold`]. A separate map because that rule only takes
    /// relative effects and its defaults are calibrated for pairs, not for a stored baseline.
    pub gate_thresholds: BTreeMap<Metric, f64>,
    /// Paired: absolute threshold for steady wire overhead, bytes per message. Default 0.5.
    pub exact_bytes: f64,
    /// Unpaired: relative threshold floor for noisy metrics when a side has one repetition (no
    /// noise estimate). Default 0.5 (50%).
    pub single_sample_threshold: f64,
    /// Unpaired: relative minimum effect for a deterministic metric whose repetitions disagree
    /// by more than its threshold (wire overhead of a batching transport). Default 0.10 (10%).
    pub varies_min_effect: f64,
    /// Confidence of the bootstrap intervals. Default 0.95.
    pub confidence: f64,
    /// Bootstrap resamples per interval. Default 2000.
    pub resamples: usize,
    /// Seed of the bootstrap generator (reports are reproducible). Default 0.
    pub seed: u64,
    /// Unpaired: judge latency and throughput of each transport by its ratio to the raw-TCP
    /// floor of the same repetition (cancels machine-wide noise). Default true.
    pub normalize_to_floor: bool,
    /// Unpaired: when the baseline ran on another CPU model or core count, report its verdicts
    /// but do not fail (the gate's handling of a committed baseline unless `--strict`).
    /// Default false.
    pub advisory_if_other_machine: bool,
    /// Folder to write the outputs into: `report.md` for both; `compare.png`, `bencher.json`
    /// and `github-action-benchmark-{smaller,bigger}.json` unpaired; `verdicts.json` paired.
    pub out_dir: Option<PathBuf>,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            thresholds: BTreeMap::new(),
            gate_thresholds: BTreeMap::new(),
            exact_bytes: 0.5,
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
    /// The unpaired threshold in force for `metric`.
    pub fn threshold(&self, metric: Metric) -> Threshold {
        self.thresholds
            .get(&metric)
            .copied()
            .unwrap_or_else(|| metric.default_threshold())
    }

    /// The paired ratio rule's relative threshold in force for `metric`.
    pub fn gate_threshold(&self, metric: Metric) -> f64 {
        self.gate_thresholds
            .get(&metric)
            .copied()
            .unwrap_or_else(|| metric.default_gate_threshold())
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
