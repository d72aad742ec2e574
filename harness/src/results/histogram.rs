//! The one latency histogram shape every recording in a run uses, so histograms from
//! subscribers, publishers and the generator merge without loss; part of the results
//! contract, since `merge` reads persisted histograms back into it.

use hdrhistogram::Histogram;

/// Largest latency or lag a histogram tracks (10 minutes); anything above is clamped and
/// counted as an overflow, which fails the run: no phase can legitimately take that long.
pub const MAX_TRACKABLE_NS: u64 = 600_000_000_000;

/// A latency histogram: 1 ns to [`MAX_TRACKABLE_NS`], 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKABLE_NS, 3).expect("static histogram bounds are valid")
}
