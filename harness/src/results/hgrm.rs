//! HdrHistogram's `.hgrm` percentile-distribution text (the format wrk2 and the HdrHistogram
//! plotter read), written from `iter_quantiles` because the Rust crate has no printer.
//! Values are in microseconds with three decimals, as the plotter's default unit expects.

use std::fmt::Write;

use hdrhistogram::Histogram;

/// Iteration steps per half-distance to 100%, as in the Java implementation's default output.
const TICKS_PER_HALF: u32 = 5;

/// Renders `h` (nanoseconds) as `.hgrm` text in microseconds.
pub fn render(h: &Histogram<u64>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    for v in h.iter_quantiles(TICKS_PER_HALF) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let us = v.value_iterated_to() as f64 / 1000.0;
        if q < 1.0 {
            let _ = writeln!(
                out,
                "{us:12.3} {q:2.12} {total:10} {:14.2}",
                1.0 / (1.0 - q)
            );
        } else {
            let _ = writeln!(out, "{us:12.3} {q:2.12} {total:10}");
        }
    }
    let (mean, sd, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            h.mean() / 1000.0,
            h.stdev() / 1000.0,
            h.max() as f64 / 1000.0,
        )
    };
    let _ = writeln!(out, "#[Mean    = {mean:12.3}, StdDeviation   = {sd:12.3}]");
    let _ = writeln!(
        out,
        "#[Max     = {max:12.3}, Total count    = {:12}]",
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        h.distinct_values()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spectrum_reaches_the_max_and_counts_everything() {
        let mut h = crate::results::histogram::latency_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let text = render(&h);
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .skip(1)
            .collect();
        let last: Vec<&str> = rows.last().unwrap().split_whitespace().collect();
        assert_eq!(last[2], "1000", "the last row counts every sample");
        assert_eq!(last[1], "1.000000000000");
        let first: Vec<&str> = rows[0].split_whitespace().collect();
        assert_eq!(first[0], "1.000", "1000 ns is 1.000 µs");
        assert!(text.contains("Total count    =         1000"));
    }
}
