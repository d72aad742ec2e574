//! Capped exponential backoff with jitter, for retrying after errors.
//!
//! Jitter keeps a hundred subscribers that lost the server at the same moment from coming back
//! in lockstep. A tiny xorshift generator is enough for that; nothing here needs real
//! randomness.

use std::time::Duration;

/// First retry delay.
pub(crate) const INITIAL: Duration = Duration::from_millis(10);
/// Largest retry delay.
pub(crate) const CAP: Duration = Duration::from_secs(1);
/// Consecutive failures after which a client gives up (about 4 s of retrying).
pub(crate) const MAX_ATTEMPTS: u32 = 10;

/// Backoff state of one client.
#[derive(Debug)]
pub(crate) struct Backoff {
    failures: u32,
    rng: u64,
}

impl Backoff {
    /// A fresh backoff; `seed` decorrelates clients.
    pub fn new(seed: u64) -> Backoff {
        Backoff {
            failures: 0,
            // Never zero: xorshift would stay at zero forever.
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    /// Forgets past failures after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Records a failure: the delay before the next attempt, or `None` once
    /// [`MAX_ATTEMPTS`] consecutive failures have happened.
    pub fn fail(&mut self) -> Option<Duration> {
        self.failures += 1;
        if self.failures >= MAX_ATTEMPTS {
            return None;
        }
        let exp = INITIAL.saturating_mul(1 << (self.failures - 1).min(16));
        let ceiling = exp.min(CAP);
        // "Equal jitter": half fixed, half random, so delays still grow.
        let half = ceiling / 2;
        let frac = (self.next_random() % 1024) as u32;
        Some(half + half * frac / 1024)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_is_capped_and_gives_up() {
        let mut b = Backoff::new(7);
        let mut delays = Vec::new();
        while let Some(d) = b.fail() {
            delays.push(d);
        }
        assert_eq!(delays.len() as u32, MAX_ATTEMPTS - 1);
        assert!(delays[0] >= INITIAL / 2 && delays[0] <= INITIAL);
        assert!(delays.iter().all(|d| *d <= CAP));
        assert!(delays.last().is_some_and(|d| *d >= CAP / 2));
        b.reset();
        assert!(b.fail().is_some_and(|d| d <= INITIAL));
    }

    #[test]
    fn jitter_differs_between_clients() {
        let first = |seed| {
            let mut b = Backoff::new(seed);
            (0..5).filter_map(|_| b.fail()).collect::<Vec<_>>()
        };
        assert_ne!(first(1), first(2));
    }
}
