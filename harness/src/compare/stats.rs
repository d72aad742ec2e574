//! Statistics for the noise model: the median of repetitions and a deterministic bootstrap
//! confidence interval for it.
//!
//! The generator is a hand-written SplitMix64 rather than `rand`'s `StdRng` because a committed
//! report must come out byte-identical next year: `StdRng` documents that its stream may change
//! between `rand` releases, SplitMix64 is fixed by its definition.

/// A confidence interval for the median of a set of repetitions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

impl Interval {
    /// Whether the two intervals share at least one point.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.lower <= other.upper && other.lower <= self.upper
    }

    /// Half the width, for "± x" displays.
    pub fn half_width(&self) -> f64 {
        (self.upper - self.lower) / 2.0
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and with a stream fixed by definition.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform index in `0..n` (n > 0). Lemire's multiply-shift: the bias for the tiny `n`
    /// used here (repetition counts) is far below 2^-50.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// FNV-1a of a string: derives a stable per-(run, metric, side) seed so each bootstrap is
/// independent of the order runs are compared in.
pub fn seed_for(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0xFF)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    h
}

/// Median of `values` (mean of the middle two for even counts); `None` when empty or when any
/// value is not a number.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| v.is_nan()) {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    Some(if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    })
}

/// Percentile-bootstrap confidence interval of the median of `values`.
///
/// `confidence` is e.g. 0.95; `resamples` bootstrap draws are taken with a generator seeded by
/// `seed`. Returns `None` for fewer than two values: one sample has no spread to resample.
/// With three repetitions the resampled medians can only take the observed values, so the
/// interval is close to [min, max] — deliberately conservative for a gate.
pub fn bootstrap_median(
    values: &[f64],
    confidence: f64,
    resamples: usize,
    seed: u64,
) -> Option<Interval> {
    if values.len() < 2 || values.iter().any(|v| !v.is_finite()) || resamples == 0 {
        return None;
    }
    let mut rng = SplitMix64::new(seed);
    let n = values.len();
    let mut sample = vec![0.0; n];
    let mut medians = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for slot in sample.iter_mut() {
            *slot = values[rng.below(n)];
        }
        medians.push(median(&sample)?);
    }
    medians.sort_by(f64::total_cmp);
    let alpha = (1.0 - confidence.clamp(0.0, 1.0)) / 2.0;
    let at = |q: f64| {
        let idx = (q * (resamples - 1) as f64).round() as usize;
        medians[idx.min(resamples - 1)]
    };
    Some(Interval {
        lower: at(alpha),
        upper: at(1.0 - alpha),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn bootstrap_is_deterministic_and_needs_two_values() {
        let v = [100.0, 104.0, 97.0, 101.0, 99.0];
        let a = bootstrap_median(&v, 0.95, 2000, 7).unwrap();
        let b = bootstrap_median(&v, 0.95, 2000, 7).unwrap();
        assert_eq!(a, b);
        assert!(a.lower <= 100.0 && a.upper >= 100.0);
        assert!(bootstrap_median(&[1.0], 0.95, 2000, 7).is_none());
    }

    #[test]
    fn splitmix_reference_values() {
        // First outputs for seed 0, from the published reference implementation.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    proptest! {
        #[test]
        fn interval_lies_within_the_data(
            values in proptest::collection::vec(0.0f64..1e9, 2..12),
            seed in any::<u64>(),
        ) {
            let iv = bootstrap_median(&values, 0.95, 200, seed).unwrap();
            let min = values.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(iv.lower <= iv.upper);
            prop_assert!(iv.lower >= min && iv.upper <= max);
        }

        #[test]
        fn below_stays_in_range(seed in any::<u64>(), n in 1usize..100) {
            let mut r = SplitMix64::new(seed);
            for _ in 0..50 {
                prop_assert!(r.below(n) < n);
            }
        }
    }
}
