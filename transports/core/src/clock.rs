//! One monotonic nanosecond clock shared by every publisher and subscriber in the process.
//!
//! Latency is the difference of two readings of this clock, so both ends must read the same
//! one; wall-clock time would add skew and jumps (the OMB #216 trap).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// The instant all timestamps count from (fixed at first use).
pub fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`]; monotonic, never wall-clock.
pub fn now_ns() -> u64 {
    as_ns(Instant::now())
}

/// Converts an [`Instant`] to nanoseconds since [`epoch`] (0 for instants before it).
pub fn as_ns(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

/// Converts nanoseconds since [`epoch`] back to an [`Instant`].
pub fn instant_at(ns: u64) -> Instant {
    epoch() + Duration::from_nanos(ns)
}
