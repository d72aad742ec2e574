//! The instants one run is laid out on: a short lead for the receive loops to start, warm-up,
//! the measured window, and how far a publisher may fall behind before it gives up.

use std::time::{Duration, Instant, SystemTime};

use transport_core::clock;

use crate::scenario::Scenario;

/// Time between connecting the last client and the first scheduled message, plus
/// [`START_LEAD_PER_CLIENT`] for each subscriber whose receive loop starts in between.
const START_LEAD: Duration = Duration::from_millis(50);
const START_LEAD_PER_CLIENT: Duration = Duration::from_micros(10);

/// The instants one run is laid out on.
pub struct Timeline {
    /// The first scheduled message (warm-up starts here).
    pub start: Instant,
    /// `start` in [`clock`] ns.
    pub start_ns: u64,
    /// Start of the measured window (warm-up ends).
    pub measure_start_ns: u64,
    /// End of the measured window, clock ns.
    pub measure_end_ns: u64,
    /// End of the measured window.
    pub end: Instant,
    /// A publisher that falls this far behind stops: what it never sent is reported as unsent.
    pub overrun: Duration,
}

impl Timeline {
    /// Lays out a run of `scenario` with `subscribers` receive loops still to start.
    pub fn new(scenario: &Scenario, subscribers: u32) -> Timeline {
        let start = Instant::now() + START_LEAD + START_LEAD_PER_CLIENT * subscribers;
        let start_ns = clock::as_ns(start);
        let measure_start_ns = start_ns + scenario.warmup.as_nanos() as u64;
        let measure_end_ns = measure_start_ns + scenario.duration.as_nanos() as u64;
        Timeline {
            start,
            start_ns,
            measure_start_ns,
            measure_end_ns,
            end: clock::instant_at(measure_end_ns),
            overrun: Duration::from_secs(1).max(scenario.duration / 10),
        }
    }

    /// The wall-clock time at clock instant `ns` (now plus the time left until it).
    pub fn wall_clock(&self, ns: u64) -> SystemTime {
        SystemTime::now() + Duration::from_nanos(ns.saturating_sub(clock::now_ns()))
    }
}
