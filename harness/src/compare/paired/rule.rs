//! The paired verdict for one metric of one run: the decision rule proper, free of I/O.
//!
//! The inputs are the values of pair 1..N, A (base) and B (candidate) measured back to back on
//! the same machine. Machine state that changes between pairs (another job compiling, a
//! neighbour on the hypervisor) moves A and B of one pair together, so the per-pair ratio
//! Bᵢ/Aᵢ cancels most of it; a real change moves every ratio.
//!
//! - **Ratios** (CPU per delivered message, latency, varying wire overhead): a deterministic
//!   bootstrap interval of the median ratio. Regressed only when the interval lies wholly above
//!   1 (the change is real: the pairs separate) *and* the median ratio is beyond 1 + threshold
//!   (it is large enough to care). Asking the whole interval to clear the threshold instead
//!   missed a +20% CPU plant in 1 of 10 gate runs (with 9 pairs the interval's lower end is
//!   about the second-lowest ratio) while adding nothing against noise: on unchanged code no
//!   CPU interval lay above 1 at all. One odd pair moves neither the median nor the interval.
//! - **Exact** (wire overhead of a transport whose framing does not depend on timing): the
//!   medians differ by more than the absolute threshold (half a byte: one whole extra byte).
//! - **Worst** (lost messages): any candidate pair that lost more than the worst base pair.

use crate::compare::judge::Verdict;
use crate::compare::stats::{Interval, bootstrap_median, median};

/// Fewest pairs a ratio verdict needs: below it the interval says nothing about noise.
pub const MIN_PAIRS: usize = 3;

/// How a paired verdict was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairBasis {
    /// Bootstrap interval of the median per-pair ratio.
    Ratios,
    /// Medians compared against an absolute threshold (values do not vary between pairs).
    Exact,
    /// The worst pair of each side (lost messages).
    Worst,
    /// Not judged: too few pairs, or the metric was unavailable.
    NotJudged,
}

/// The outcome of the rule for one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct PairJudgement {
    /// How it was reached.
    pub basis: PairBasis,
    /// Median of the per-pair ratios B/A (ratio basis), or median B / median A otherwise;
    /// `None` when a base value is zero.
    pub ratio: Option<f64>,
    /// Interval of the median ratio (ratio basis only).
    pub interval: Option<Interval>,
    /// The verdict.
    pub verdict: Verdict,
}

/// Settings of the ratio rule.
#[derive(Debug, Clone, Copy)]
pub struct RatioRule {
    /// Minimum relative effect (0.1 = the median ratio must be beyond 1.1).
    pub threshold: f64,
    /// Confidence of the bootstrap interval.
    pub confidence: f64,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Seed of the bootstrap (salted per run and metric by the caller).
    pub seed: u64,
}

/// Per-pair ratios B/A; pairs whose base is zero or either value is not finite are skipped
/// (a ratio to nothing says nothing).
pub fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .filter(|(x, y)| x.is_finite() && y.is_finite() && **x > 0.0)
        .map(|(x, y)| y / x)
        .collect()
}

/// The ratio rule (smaller is better for every gated metric).
pub fn by_ratios(a: &[f64], b: &[f64], rule: RatioRule) -> PairJudgement {
    let r = ratios(a, b);
    let not_judged = PairJudgement {
        basis: PairBasis::NotJudged,
        ratio: median(&r),
        interval: None,
        verdict: Verdict::WithinNoise,
    };
    if r.len() < MIN_PAIRS {
        return not_judged;
    }
    let Some(iv) = bootstrap_median(&r, rule.confidence, rule.resamples, rule.seed) else {
        return not_judged;
    };
    let ratio = median(&r).unwrap_or(1.0);
    let verdict = if iv.lower > 1.0 && ratio > 1.0 + rule.threshold {
        Verdict::Regressed
    } else if iv.upper < 1.0 && ratio < 1.0 - rule.threshold {
        Verdict::Improved
    } else {
        Verdict::WithinNoise
    };
    PairJudgement {
        basis: PairBasis::Ratios,
        ratio: Some(ratio),
        interval: Some(iv),
        verdict,
    }
}

/// Whether every value lies within `tolerance` of the side's median: a metric fixed by the
/// protocol rather than by timing.
pub fn steady(values: &[f64], tolerance: f64) -> bool {
    median(values).is_some_and(|m| values.iter().all(|v| (v - m).abs() <= tolerance))
}

/// The exact rule: the medians differ by more than `threshold` (in the metric's unit).
pub fn exact(a: &[f64], b: &[f64], threshold: f64) -> PairJudgement {
    let (Some(ma), Some(mb)) = (median(a), median(b)) else {
        return PairJudgement {
            basis: PairBasis::NotJudged,
            ratio: None,
            interval: None,
            verdict: Verdict::WithinNoise,
        };
    };
    let verdict = if mb - ma > threshold {
        Verdict::Regressed
    } else if ma - mb > threshold {
        Verdict::Improved
    } else {
        Verdict::WithinNoise
    };
    PairJudgement {
        basis: PairBasis::Exact,
        ratio: (ma > 0.0).then(|| mb / ma),
        interval: None,
        verdict,
    }
}

/// The worst-pair rule for lost messages: any loss beyond the base's worst pair regresses.
pub fn worst(a: &[f64], b: &[f64]) -> PairJudgement {
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let (wa, wb) = (max(a), max(b));
    let verdict = match wb.partial_cmp(&wa) {
        Some(std::cmp::Ordering::Greater) => Verdict::Regressed,
        Some(std::cmp::Ordering::Less) => Verdict::Improved,
        _ => Verdict::WithinNoise,
    };
    PairJudgement {
        basis: PairBasis::Worst,
        ratio: (wa > 0.0).then(|| wb / wa),
        interval: None,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(threshold: f64) -> RatioRule {
        RatioRule {
            threshold,
            confidence: 0.95,
            resamples: 2000,
            seed: 1,
        }
    }

    #[test]
    fn twenty_percent_more_on_every_pair_regresses() {
        let a = [37_500.0, 46_250.0, 42_500.0, 47_500.0];
        let b: Vec<f64> = a.iter().map(|v| v * 1.2).collect();
        let j = by_ratios(&a, &b, rule(0.1));
        assert_eq!(
            (j.basis, j.verdict),
            (PairBasis::Ratios, Verdict::Regressed)
        );
        assert!((j.ratio.unwrap() - 1.2).abs() < 1e-9);
    }

    #[test]
    fn a_real_but_small_change_is_within_the_threshold() {
        // Every pair 5% worse: the pairs separate, but the change is under 10%.
        let a = [100.0, 120.0, 110.0, 105.0, 98.0];
        let b: Vec<f64> = a.iter().map(|v| v * 1.05).collect();
        assert_eq!(by_ratios(&a, &b, rule(0.1)).verdict, Verdict::WithinNoise);
    }

    #[test]
    fn a_large_median_without_separated_pairs_is_not_an_alarm() {
        // Median ×1.2 but two of five pairs better: the interval reaches below 1.
        let a = [100.0; 5];
        let b = [80.0, 85.0, 120.0, 125.0, 130.0];
        assert_eq!(by_ratios(&a, &b, rule(0.1)).verdict, Verdict::WithinNoise);
    }

    #[test]
    fn machine_noise_shared_by_a_pair_cancels() {
        // Pairs 40% apart from each other (the machine got busier), each pair within 3%.
        let a = [30_000.0, 42_000.0, 36_000.0, 33_000.0];
        let b = [30_900.0, 41_000.0, 36_500.0, 33_100.0];
        assert_eq!(by_ratios(&a, &b, rule(0.1)).verdict, Verdict::WithinNoise);
    }

    #[test]
    fn one_odd_pair_is_not_an_alarm() {
        let a = [100.0, 100.0, 100.0, 100.0];
        let b = [101.0, 99.0, 180.0, 100.0];
        assert_eq!(by_ratios(&a, &b, rule(0.1)).verdict, Verdict::WithinNoise);
    }

    #[test]
    fn too_few_pairs_are_not_judged() {
        let j = by_ratios(&[1.0, 1.0], &[5.0, 5.0], rule(0.1));
        assert_eq!(
            (j.basis, j.verdict),
            (PairBasis::NotJudged, Verdict::WithinNoise)
        );
    }

    #[test]
    fn clear_improvement_is_reported_as_one() {
        let a = [100.0, 110.0, 105.0];
        let b = [60.0, 65.0, 62.0];
        assert_eq!(by_ratios(&a, &b, rule(0.1)).verdict, Verdict::Improved);
    }

    #[test]
    fn exact_overhead_flags_one_byte() {
        assert!(steady(&[17.05, 17.05, 17.05], 0.5));
        assert_eq!(
            exact(&[17.05; 3], &[18.05; 3], 0.5).verdict,
            Verdict::Regressed
        );
        assert_eq!(
            exact(&[17.05; 3], &[17.25; 3], 0.5).verdict,
            Verdict::WithinNoise
        );
        assert!(!steady(&[340.0, 400.0, 341.0], 0.5));
    }

    #[test]
    fn any_new_loss_regresses() {
        assert_eq!(worst(&[0.0, 0.0], &[0.0, 3.0]).verdict, Verdict::Regressed);
        assert_eq!(
            worst(&[2.0, 0.0], &[1.0, 2.0]).verdict,
            Verdict::WithinNoise
        );
    }

    proptest::proptest! {
        #[test]
        fn identical_sides_never_regress(values in proptest::collection::vec(1.0f64..1e7, 0..8)) {
            for j in [by_ratios(&values, &values, rule(0.0)), exact(&values, &values, 0.0), worst(&values, &values)] {
                proptest::prop_assert_eq!(j.verdict, Verdict::WithinNoise);
            }
        }

        #[test]
        fn noise_inside_the_threshold_never_regresses(
            a in proptest::collection::vec(1.0f64..1e6, 3..8),
            noise in proptest::collection::vec(-0.05f64..0.05, 8),
        ) {
            // Each candidate within ±5% of its own pair: a 10% threshold must hold.
            let b: Vec<f64> = a.iter().zip(&noise).map(|(v, n)| v * (1.0 + n)).collect();
            proptest::prop_assert_eq!(by_ratios(&a, &b, rule(0.1)).verdict, Verdict::WithinNoise);
        }
    }
}
