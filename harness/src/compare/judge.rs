//! The decision for one metric on one set of values per side: the noise model proper.
//!
//! - Noisy metrics with ≥ 2 repetitions on both sides: a bootstrap confidence interval of the
//!   median per side. Regressed only if the intervals do not overlap *and* the medians differ by
//!   more than the metric's minimum effect — the interval test says "real", the minimum effect
//!   says "large enough to care".
//! - Noisy metrics with a single repetition on either side: there is no noise estimate, and the
//!   report says so. The change still gates, but only beyond a large threshold
//!   (`single_sample_threshold`, default 50%), because one sample on a shared 2-core machine
//!   routinely moves tail latency by tens of percent.
//! - Deterministic metrics (overhead bytes, lost): the threshold alone decides (default half a
//!   byte / any increase). If the repetitions themselves disagree by more than the threshold (a
//!   batching transport whose framing per message depends on timing), the ranges must also be
//!   disjoint and the change must exceed `varies_min_effect` (default 10%) too; the report
//!   marks the metric as varying. Lost compares the worst repetition.
//!
//! The verdict words ([`Verdict`], [`Basis`], [`SideStats`]) are defined here, with the rule
//! that produces them; `verdict` (per run, against the floor) and `paired` build on them.

use super::options::CompareOptions;
use super::stats::{Interval, bootstrap_median, median, seed_for};
use crate::metric::{Direction, Kind, Metric, Threshold};

/// The outcome for one metric of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Worse beyond noise and threshold.
    Regressed,
    /// Better beyond noise and threshold.
    Improved,
    /// No change that clears the noise and the threshold.
    WithinNoise,
}

/// How a verdict was reached: the report prints it so nobody mistakes a guess for a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Bootstrap intervals of the median on both sides.
    Bootstrap,
    /// One repetition on at least one side: no noise estimate, large threshold only.
    SingleSample,
    /// A deterministic metric whose repetitions agree: exact comparison against the threshold.
    Exact,
    /// A deterministic metric whose repetitions disagree: threshold plus disjoint ranges.
    Varies,
}

/// One side's figures for one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct SideStats {
    /// Per-repetition values.
    pub values: Vec<f64>,
    /// The value compared: the median of repetitions (the maximum for lost messages, so one
    /// repetition that lost messages is not hidden by two that did not).
    pub center: f64,
    /// Bootstrap interval of the median (noisy metrics with ≥ 2 repetitions), or the
    /// [min, max] range (deterministic metrics); `None` with a single repetition.
    pub interval: Option<Interval>,
}

/// The outcome of judging one metric on one set of values.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// Baseline figures.
    pub baseline: SideStats,
    /// Candidate figures.
    pub candidate: SideStats,
    /// Candidate minus baseline (centres).
    pub change: f64,
    /// Change relative to the baseline; `None` when the baseline is zero.
    pub change_rel: Option<f64>,
    /// The threshold that was applied (after the single-sample floor).
    pub threshold: Threshold,
    /// How the verdict was reached.
    pub basis: Basis,
    /// The verdict.
    pub verdict: Verdict,
}

/// Judge one metric given the per-repetition values of each side. `name` salts the bootstrap
/// seed so every (run, metric, side) gets its own stream.
pub fn judge(
    name: &str,
    metric: Metric,
    baseline: &[f64],
    candidate: &[f64],
    opts: &CompareOptions,
) -> Judgement {
    let threshold = opts.threshold(metric);
    let (base, cand, basis, threshold) = match metric.kind() {
        Kind::Noisy => noisy_sides(name, metric, baseline, candidate, threshold, opts),
        Kind::Deterministic => deterministic_sides(metric, baseline, candidate, threshold),
    };
    let change = cand.center - base.center;
    let change_rel = (base.center != 0.0).then(|| change / base.center.abs());
    let worse = match metric.direction() {
        Direction::SmallerIsBetter => change > 0.0,
        Direction::BiggerIsBetter => change < 0.0,
    };
    // A deterministic metric that varies between repetitions (framing per message of a
    // batching transport depends on how many messages each response or fetch carried, which
    // depends on machine load) also needs a relative minimum effect: its absolute threshold
    // (half a byte) is far below what the repetitions themselves disagree by.
    let big_enough = threshold.exceeded(base.center, cand.center)
        && (basis != Basis::Varies
            || Threshold::Relative(opts.varies_min_effect).exceeded(base.center, cand.center));
    // Only the bootstrap and varying bases need the intervals apart; exact and single-sample
    // comparisons have no (meaningful) interval to test.
    let separated = match (basis, base.interval, cand.interval) {
        (Basis::Bootstrap | Basis::Varies, Some(b), Some(c)) => !b.overlaps(&c),
        (Basis::Bootstrap | Basis::Varies, _, _) => true,
        (Basis::Exact | Basis::SingleSample, _, _) => true,
    };
    let verdict = if !big_enough || !separated || change.is_nan() {
        Verdict::WithinNoise
    } else if worse {
        Verdict::Regressed
    } else {
        Verdict::Improved
    };
    Judgement {
        baseline: base,
        candidate: cand,
        change,
        change_rel,
        threshold,
        basis,
        verdict,
    }
}

/// Both sides of a noisy metric: the median with its bootstrap interval, or (a side with one
/// repetition has no interval) the single-sample basis with its large threshold.
fn noisy_sides(
    name: &str,
    metric: Metric,
    baseline: &[f64],
    candidate: &[f64],
    threshold: Threshold,
    opts: &CompareOptions,
) -> (SideStats, SideStats, Basis, Threshold) {
    let side = |values: &[f64], which: &str| SideStats {
        values: values.to_vec(),
        center: median(values).unwrap_or(f64::NAN),
        interval: bootstrap_median(
            values,
            opts.confidence,
            opts.resamples,
            seed_for(&[&opts.seed.to_string(), name, metric.key(), which]),
        ),
    };
    let (b, c) = (side(baseline, "baseline"), side(candidate, "candidate"));
    if b.interval.is_some() && c.interval.is_some() {
        (b, c, Basis::Bootstrap, threshold)
    } else {
        let t = threshold.at_least(opts.single_sample_threshold);
        (b, c, Basis::SingleSample, t)
    }
}

/// Both sides of a deterministic metric: the median (the worst repetition for lost messages)
/// with the [min, max] range, and whether the repetitions vary beyond the threshold.
fn deterministic_sides(
    metric: Metric,
    baseline: &[f64],
    candidate: &[f64],
    threshold: Threshold,
) -> (SideStats, SideStats, Basis, Threshold) {
    let side = |values: &[f64]| {
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        SideStats {
            values: values.to_vec(),
            center: if metric == Metric::Lost {
                max
            } else {
                median(values).unwrap_or(f64::NAN)
            },
            interval: (values.len() > 1).then_some(Interval {
                lower: min,
                upper: max,
            }),
        }
    };
    let (b, c) = (side(baseline), side(candidate));
    let varies = |s: &SideStats| {
        s.interval
            .is_some_and(|iv| threshold.exceeded(iv.lower, iv.upper))
    };
    // Lost compares worst repetitions: any increase is a regression, spread or not.
    let basis = if metric != Metric::Lost && (varies(&b) || varies(&c)) {
        Basis::Varies
    } else {
        Basis::Exact
    };
    (b, c, basis, threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> CompareOptions {
        CompareOptions::default()
    }

    #[test]
    fn clear_p99_regression_is_flagged() {
        let b = [1000.0, 1020.0, 985.0, 1010.0, 995.0];
        let c: Vec<f64> = b.iter().map(|v| v * 1.25).collect();
        let mc = judge("r", Metric::P99, &b, &c, &opts());
        assert_eq!(mc.basis, Basis::Bootstrap);
        assert_eq!(mc.verdict, Verdict::Regressed);
    }

    #[test]
    fn small_change_inside_noise_is_not() {
        let b = [1000.0, 1080.0, 930.0, 1040.0, 960.0];
        let c: Vec<f64> = b.iter().map(|v| v * 1.02).collect();
        let mc = judge("r", Metric::P99, &b, &c, &opts());
        assert_eq!(mc.verdict, Verdict::WithinNoise);
    }

    #[test]
    fn disjoint_but_small_change_is_within_threshold() {
        // Intervals apart (very tight runs) but only 3% worse: below the 10% minimum effect.
        let b = [1000.0, 1001.0, 999.0];
        let c = [1030.0, 1031.0, 1029.0];
        let mc = judge("r", Metric::P50, &b, &c, &opts());
        assert_eq!(mc.verdict, Verdict::WithinNoise);
    }

    #[test]
    fn throughput_drop_regresses_and_rise_improves() {
        let b = [10_000.0, 10_050.0, 9_980.0];
        let worse = [8_000.0, 8_020.0, 7_990.0];
        let better = [12_000.0, 12_020.0, 11_990.0];
        let o = opts();
        let down = judge("r", Metric::Throughput, &b, &worse, &o).verdict;
        let up = judge("r", Metric::Throughput, &b, &better, &o).verdict;
        assert_eq!((down, up), (Verdict::Regressed, Verdict::Improved));
    }

    #[test]
    fn single_sample_has_no_noise_estimate_and_a_large_threshold() {
        let o = opts();
        let mc = judge("r", Metric::P99, &[1000.0], &[1250.0], &o);
        assert_eq!(mc.basis, Basis::SingleSample);
        assert_eq!(mc.verdict, Verdict::WithinNoise);
        let mc = judge("r", Metric::P99, &[1000.0], &[1600.0], &o);
        assert_eq!(mc.verdict, Verdict::Regressed);
    }

    #[test]
    fn one_byte_of_overhead_is_flagged_even_single_sample() {
        let o = opts();
        let mc = judge("r", Metric::OverheadBytes, &[12.0], &[13.0], &o);
        assert_eq!((mc.basis, mc.verdict), (Basis::Exact, Verdict::Regressed));
        let mc = judge(
            "r",
            Metric::OverheadBytes,
            &[12.0, 12.0, 12.0],
            &[13.0, 13.0, 13.0],
            &o,
        );
        assert_eq!((mc.basis, mc.verdict), (Basis::Exact, Verdict::Regressed));
        let mc = judge("r", Metric::OverheadBytes, &[12.0], &[12.2], &o);
        assert_eq!(mc.verdict, Verdict::WithinNoise);
    }

    #[test]
    fn varying_overhead_needs_disjoint_ranges() {
        let o = opts();
        let mc = judge(
            "r",
            Metric::OverheadBytes,
            &[10.0, 14.0, 12.0],
            &[11.0, 15.0, 13.0],
            &o,
        );
        assert_eq!(
            (mc.basis, mc.verdict),
            (Basis::Varies, Verdict::WithinNoise)
        );
    }

    #[test]
    fn varying_overhead_needs_a_relative_effect_too() {
        let o = opts();
        let base = [395.8, 397.4, 407.4];
        // Ranges apart but +4.5%: batching noise, not a framing change.
        let mc = judge(
            "r",
            Metric::OverheadBytes,
            &base,
            &[417.4, 407.7, 415.5],
            &o,
        );
        assert_eq!(
            (mc.basis, mc.verdict),
            (Basis::Varies, Verdict::WithinNoise)
        );
        let mc = judge(
            "r",
            Metric::OverheadBytes,
            &base,
            &[480.0, 470.0, 475.0],
            &o,
        );
        assert_eq!((mc.basis, mc.verdict), (Basis::Varies, Verdict::Regressed));
    }

    #[test]
    fn any_lost_message_regresses() {
        let o = opts();
        let mc = judge("r", Metric::Lost, &[0.0, 0.0, 0.0], &[0.0, 1.0, 0.0], &o);
        assert_eq!(mc.verdict, Verdict::Regressed);
        let mc = judge("r", Metric::Lost, &[0.0, 0.0], &[0.0, 0.0], &o);
        assert_eq!(mc.verdict, Verdict::WithinNoise);
    }

    proptest::proptest! {
        #[test]
        fn identical_sides_never_change(
            values in proptest::collection::vec(1.0f64..1e7, 1..8),
        ) {
            for metric in Metric::UNPAIRED {
                let j = judge("p", metric, &values, &values, &opts());
                proptest::prop_assert_eq!(j.verdict, Verdict::WithinNoise);
            }
        }

        #[test]
        fn clearly_separated_latency_is_flagged_in_the_right_direction(
            values in proptest::collection::vec(1.0f64..1e7, 2..8),
            factor in 1.2f64..5.0,
        ) {
            let max = values.iter().cloned().fold(f64::MIN, f64::max);
            let min = values.iter().cloned().fold(f64::MAX, f64::min);
            // Every candidate repetition beyond the whole baseline by ≥ 20%.
            let worse: Vec<f64> = values.iter().map(|v| max * factor + (v - min)).collect();
            // ...or every one below the whole baseline by the same factor.
            let better: Vec<f64> = values.iter().map(|v| min / factor * (v / max)).collect();
            let up = judge("p", Metric::P99, &values, &worse, &opts()).verdict;
            let down = judge("p", Metric::P99, &values, &better, &opts()).verdict;
            proptest::prop_assert_eq!(up, Verdict::Regressed);
            proptest::prop_assert_eq!(down, Verdict::Improved);
        }
    }
}
