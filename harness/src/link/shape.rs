//! The arithmetic of an emulated link, kept free of sockets so it can be tested exactly:
//! a delay line (one-way delay with jitter, never reordering bytes) and a bandwidth bucket,
//! one of each per connection and direction: every client has a link of its own.
//!
//! A chunk read at `t` first waits for its turn on the wire (serialisation at the configured
//! bit rate, FIFO behind earlier chunks of the same direction), then propagates for the one-way
//! delay. That is the order a real link applies them in, so a large transfer takes
//! `bytes * 8 / rate + rtt / 2`, and a small message `rtt / 2` plus its own serialisation.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The shape of a link: round trip, jitter, and bandwidth per direction, and which clients'
/// connections cross it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LinkConfig {
    /// Round-trip time added by the link; each direction gets half.
    #[serde(with = "transport_core::duration")]
    pub rtt: Duration,
    /// Variation of the round trip: each direction's delay varies uniformly by ± half of it,
    /// clamped so bytes are never reordered (TCP would hide a reordering anyway).
    #[serde(with = "transport_core::duration")]
    pub jitter: Duration,
    /// Bits per second in each direction of each client connection; `None` for unlimited.
    pub bandwidth_bits_per_sec: Option<u64>,
    /// Whose connections cross the link (`[link] applies_to`): everyone's (the default), only
    /// the subscribers' (consumers far away, producers beside the broker, as a log is usually
    /// deployed) or only the publishers'. The others are relayed unshaped, so faults still
    /// reach them.
    pub applies_to: super::FaultTarget,
}

impl LinkConfig {
    /// Whether connections of `side` cross the emulated link.
    pub fn shapes(&self, side: super::Side) -> bool {
        use super::{FaultTarget, Side};
        match self.applies_to {
            FaultTarget::All => true,
            FaultTarget::Subscribers => side == Side::Subscribers,
            FaultTarget::Publishers => side == Side::Publishers,
        }
    }

    /// The link `side`'s connections see: this one, or a plain relay when it does not apply.
    pub fn for_side(&self, side: super::Side) -> LinkConfig {
        if self.shapes(side) {
            *self
        } else {
            LinkConfig {
                applies_to: self.applies_to,
                ..LinkConfig::default()
            }
        }
    }
}

/// The delay of one direction of one connection.
#[derive(Debug)]
pub struct DelayLine {
    one_way: Duration,
    half_jitter: Duration,
    rng: u64,
    last_release: Option<Instant>,
}

impl DelayLine {
    /// A delay line for `link`; `seed` decorrelates the jitter of different connections.
    pub fn new(link: &LinkConfig, seed: u64) -> DelayLine {
        DelayLine {
            one_way: link.rtt / 2,
            half_jitter: link.jitter / 2,
            // Never zero: xorshift would stay at zero.
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            last_release: None,
        }
    }

    /// When a chunk that finished serialising at `sent` arrives at the far end: `sent` plus the
    /// one-way delay ± jitter, but never before the previous chunk (no reordering).
    pub fn release(&mut self, sent: Instant) -> Instant {
        let mut at = sent + self.one_way;
        if !self.half_jitter.is_zero() {
            // Uniform in [-half_jitter, +half_jitter].
            let span = self.half_jitter.as_nanos() as u64 * 2;
            let offset = self.next_random() % (span + 1);
            at += Duration::from_nanos(offset);
            at = at.checked_sub(self.half_jitter).unwrap_or(sent).max(sent);
        }
        if let Some(last) = self.last_release {
            at = at.max(last);
        }
        self.last_release = Some(at);
        at
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

/// One direction's bandwidth: a FIFO wire (shareable, though the proxy gives each connection
/// its own).
#[derive(Debug)]
pub struct Bucket {
    bits_per_sec: u64,
    free_at: Mutex<Option<Instant>>,
}

impl Bucket {
    /// A wire of `bits_per_sec` (> 0).
    pub fn new(bits_per_sec: u64) -> Bucket {
        Bucket {
            bits_per_sec: bits_per_sec.max(1),
            free_at: Mutex::new(None),
        }
    }

    /// Reserves the wire for `bytes` offered at `now`; returns when their last bit is sent.
    pub fn reserve(&self, bytes: usize, now: Instant) -> Instant {
        let nanos = (bytes as u128 * 8 * 1_000_000_000) / u128::from(self.bits_per_sec);
        let cost = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        let mut free_at = self.free_at.lock().unwrap_or_else(PoisonError::into_inner);
        let start = free_at.map_or(now, |f| f.max(now));
        let done = start + cost;
        *free_at = Some(done);
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(rtt_ms: u64, jitter_ms: u64) -> LinkConfig {
        LinkConfig {
            rtt: Duration::from_millis(rtt_ms),
            jitter: Duration::from_millis(jitter_ms),
            bandwidth_bits_per_sec: None,
            applies_to: crate::link::FaultTarget::All,
        }
    }

    #[test]
    fn half_the_rtt_each_way_without_jitter() {
        let mut d = DelayLine::new(&link(50, 0), 1);
        let t = Instant::now();
        assert_eq!(d.release(t), t + Duration::from_millis(25));
    }

    #[test]
    fn jitter_stays_in_bounds_and_never_reorders() {
        let mut d = DelayLine::new(&link(100, 20), 7);
        let t0 = Instant::now();
        let mut last = t0;
        let mut distinct = std::collections::BTreeSet::new();
        for i in 0..1000 {
            let sent = t0 + Duration::from_millis(i);
            let at = d.release(sent);
            assert!(at >= last, "chunks must not be reordered");
            let delay = at - sent;
            // Lower bound is exact; the upper bound may grow only by the no-reorder clamp,
            // which with 1 ms spacing and 20 ms jitter stays below the jitter itself.
            assert!(delay >= Duration::from_millis(40), "{delay:?}");
            assert!(delay <= Duration::from_millis(70), "{delay:?}");
            distinct.insert(delay);
            last = at;
        }
        assert!(distinct.len() > 100, "jitter must vary the delay");
    }

    #[test]
    fn bucket_serialises_fifo() {
        let b = Bucket::new(8_000_000); // 1 MB/s
        let t = Instant::now();
        assert_eq!(b.reserve(1000, t), t + Duration::from_millis(1));
        // A second sender queues behind the first.
        assert_eq!(b.reserve(1000, t), t + Duration::from_millis(2));
        // An idle wire starts at the offer time.
        let later = t + Duration::from_secs(1);
        assert_eq!(b.reserve(500, later), later + Duration::from_micros(500));
    }
}
