use super::*;

#[test]
fn generator_lag_invalidates_only_when_it_can_distort_latency() {
    // 6 ms late against a 200 µs median: a third of the figures could be the harness's.
    assert!(generator_distorts(6_000_000, 200_000));
    // 6 ms late against a 300 ms median (10,000 subscribers): 2%, no distortion.
    assert!(!generator_distorts(6_000_000, 300_000_000));
    // Under 5 ms is never a distortion; no latency samples at all still judges the lag.
    assert!(!generator_distorts(4_000_000, 0));
    assert!(generator_distorts(6_000_000, 0));
}
