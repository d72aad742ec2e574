//! Reconnect backoff shared by every client: capped exponential backoff with *full* jitter.
//!
//! The delay before retry number `attempt` (0-based) is uniform in
//! `[0, min(cap, base * 2^attempt)]`. Full jitter spreads a crowd of clients that lost the server
//! at the same instant over the whole window, so they do not come back in lockstep (equal jitter
//! keeps half of every delay fixed, which still synchronises them). A success resets the count.
//!
//! Transports expose `base`, `cap` and `max_attempts` as flat options of their own config
//! (`reconnect_base`, `reconnect_cap`, `reconnect_max_attempts`) and build a [`BackoffConfig`]
//! from them; the struct also deserializes on its own, with human durations.
//!
//! A run may instead ask for [`ReconnectPolicy::Immediate`] (the scenario's `reconnect`): every
//! retry at once, never giving up, as a naive client does. That is the thundering herd a
//! reconnect storm shows: the same fleet, with and without jitter.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Default first-retry window.
pub const DEFAULT_BASE: Duration = Duration::from_millis(10);
/// Default largest retry window.
pub const DEFAULT_CAP: Duration = Duration::from_secs(1);
/// Default number of consecutive failed attempts before a client gives up. With the default
/// base and cap that is about 10 s of expected retrying, long enough for a server restart.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 25;

/// Backoff options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffConfig {
    /// The window of the first retry; doubles per consecutive failure.
    #[serde(with = "crate::duration")]
    pub base: Duration,
    /// The largest window.
    #[serde(with = "crate::duration")]
    pub cap: Duration,
    /// Consecutive failed attempts after which the client gives up (0: never gives up).
    pub max_attempts: u32,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            base: DEFAULT_BASE,
            cap: DEFAULT_CAP,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

impl BackoffConfig {
    /// Checks that the window can grow: `base` must be positive and at most `cap`. `prefix`
    /// names the options in the message (`reconnect_`).
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        if self.base.is_zero() {
            return Err(format!("{prefix}base must be > 0"));
        }
        if self.base > self.cap {
            return Err(format!("{prefix}base must be <= {prefix}cap"));
        }
        Ok(())
    }
}

/// How a client waits between reconnect attempts (the scenario's `reconnect`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReconnectPolicy {
    /// Capped exponential backoff with full jitter (each transport's base and cap).
    #[default]
    FullJitter,
    /// No wait at all, and no giving up: the herd.
    Immediate,
}

impl ReconnectPolicy {
    /// Every policy.
    pub const ALL: [ReconnectPolicy; 2] = [ReconnectPolicy::FullJitter, ReconnectPolicy::Immediate];
    /// Every policy's scenario name, for error messages.
    pub const NAMES: &'static [&'static str] = &["full-jitter", "immediate"];

    /// The scenario name.
    pub const fn name(self) -> &'static str {
        match self {
            ReconnectPolicy::FullJitter => "full-jitter",
            ReconnectPolicy::Immediate => "immediate",
        }
    }

    /// Looks a policy up by its scenario name.
    pub fn from_name(name: &str) -> Option<ReconnectPolicy> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl std::fmt::Display for ReconnectPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

impl Serialize for ReconnectPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Backoff state of one client.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    policy: ReconnectPolicy,
    failures: u32,
    rng: StdRng,
}

impl Backoff {
    /// A backoff seeded from the operating system, so clients are decorrelated.
    pub fn new(config: BackoffConfig) -> Backoff {
        Backoff::with_rng(config, StdRng::from_os_rng())
    }

    /// A deterministic backoff, for tests.
    pub fn seeded(config: BackoffConfig, seed: u64) -> Backoff {
        Backoff::with_rng(config, StdRng::seed_from_u64(seed))
    }

    fn with_rng(config: BackoffConfig, rng: StdRng) -> Backoff {
        Backoff {
            config,
            policy: ReconnectPolicy::FullJitter,
            failures: 0,
            rng,
        }
    }

    /// The same backoff under `policy`.
    pub fn with_policy(mut self, policy: ReconnectPolicy) -> Backoff {
        self.policy = policy;
        self
    }

    /// The options it runs with.
    pub fn config(&self) -> &BackoffConfig {
        &self.config
    }

    /// Consecutive failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Forgets past failures after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The current window: `min(cap, base * 2^failures)`.
    fn window(&self) -> Duration {
        // 2^30 × any sane base already exceeds every cap; saturating keeps huge bases safe.
        let factor = 1u32 << self.failures.min(30);
        self.config.base.saturating_mul(factor).min(self.config.cap)
    }

    /// Records a failure and returns the delay before the next attempt, or `None` once
    /// `max_attempts` consecutive failures have happened.
    pub fn fail(&mut self) -> Option<Duration> {
        let window = self.window();
        self.failures = self.failures.saturating_add(1);
        if self.policy == ReconnectPolicy::Immediate {
            return Some(Duration::ZERO);
        }
        if self.config.max_attempts != 0 && self.failures >= self.config.max_attempts {
            return None;
        }
        let nanos = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        Some(Duration::from_nanos(self.rng.random_range(0..=nanos)))
    }

    /// Records a failure and sleeps for the delay; `false` once the client should give up.
    pub async fn wait(&mut self) -> bool {
        match self.fail() {
            Some(delay) => {
                tokio::time::sleep(delay).await;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(base_ms: u64, cap_ms: u64, max_attempts: u32) -> BackoffConfig {
        BackoffConfig {
            base: Duration::from_millis(base_ms),
            cap: Duration::from_millis(cap_ms),
            max_attempts,
        }
    }

    #[test]
    fn delays_stay_within_the_growing_capped_window() {
        let mut b = Backoff::seeded(cfg(10, 1000, 0), 42);
        for attempt in 0..40u32 {
            let window = Duration::from_millis(10 << attempt.min(20)).min(Duration::from_secs(1));
            let d = b.fail().expect("never gives up with max_attempts = 0");
            assert!(d <= window, "attempt {attempt}: {d:?} > {window:?}");
        }
    }

    #[test]
    fn full_jitter_reaches_near_zero_and_near_the_cap() {
        // Equal jitter would never go below half the window; full jitter must.
        let mut b = Backoff::seeded(cfg(1000, 1000, 0), 7);
        let delays: Vec<_> = (0..200).filter_map(|_| b.fail()).collect();
        assert!(delays.iter().any(|d| *d < Duration::from_millis(100)));
        assert!(delays.iter().any(|d| *d > Duration::from_millis(900)));
    }

    #[test]
    fn same_seed_same_delays_different_seed_differs() {
        let run = |seed| {
            let mut b = Backoff::seeded(cfg(10, 1000, 0), seed);
            (0..8).filter_map(|_| b.fail()).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn gives_up_after_max_attempts_and_reset_starts_over() {
        let mut b = Backoff::seeded(cfg(10, 1000, 3), 3);
        assert!(b.fail().is_some());
        assert!(b.fail().is_some());
        assert!(b.fail().is_none());
        b.reset();
        assert_eq!(b.failures(), 0);
        let d = b.fail().expect("fresh after reset");
        assert!(d <= Duration::from_millis(10));
    }

    #[test]
    fn config_parses_human_durations_and_validates() {
        let c: BackoffConfig = serde_json::from_str(r#"{"base":"5ms","cap":"2s"}"#).expect("parse");
        assert_eq!(c.base, Duration::from_millis(5));
        assert_eq!(c.cap, Duration::from_secs(2));
        assert_eq!(c.max_attempts, DEFAULT_MAX_ATTEMPTS);
        assert!(c.validate("reconnect_").is_ok());
        assert!(cfg(0, 10, 1).validate("r_").is_err());
        let err = cfg(20, 10, 1)
            .validate("reconnect_")
            .expect_err("base > cap");
        assert!(err.contains("reconnect_base"), "{err}");
        assert!(serde_json::from_str::<BackoffConfig>(r#"{"bas":"5ms"}"#).is_err());
    }

    #[test]
    fn immediate_never_waits_and_never_gives_up() {
        let mut b = Backoff::seeded(cfg(10, 1000, 3), 5).with_policy(ReconnectPolicy::Immediate);
        for _ in 0..10 {
            assert_eq!(b.fail(), Some(Duration::ZERO));
        }
        for p in ReconnectPolicy::ALL {
            assert_eq!(ReconnectPolicy::from_name(p.name()), Some(p));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn wait_sleeps_then_gives_up() {
        let mut b = Backoff::seeded(cfg(10, 10, 2), 9);
        assert!(b.wait().await);
        assert!(!b.wait().await);
    }
}
