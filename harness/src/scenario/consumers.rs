//! Consumer classes (`[[consumers]]`): a share of a run's subscribers that reads slowly,
//! pauses, reads in batches or goes offline, so that what a lagging consumer costs the server
//! and the other subscribers can be measured. The subscribers not in any class read at full
//! speed and form the `full` class of the results.
//!
//! Which subscribers belong to which class is settled here, deterministically, so the runner,
//! the recorder and the report agree on it and a rerun picks the same ones.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use transport_core::GateBehaviour;

/// What the subscribers of a class do during the measured window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "behaviour", rename_all = "kebab-case")]
pub enum Behaviour {
    /// Reads at most `read_bytes_per_sec` at the socket.
    Slow {
        /// The read budget, bytes per second.
        read_bytes_per_sec: u64,
    },
    /// Stops reading at `pause_at` for `pause_for`, then catches up.
    Paused {
        /// From the start of the measured window.
        #[serde(with = "transport_core::duration")]
        pause_at: Duration,
        /// How long it reads nothing.
        #[serde(with = "transport_core::duration")]
        pause_for: Duration,
    },
    /// Reads its socket only every `interval`, then takes all that is there.
    Batch {
        /// Time between reads.
        #[serde(with = "transport_core::duration")]
        interval: Duration,
    },
    /// Disconnects at `at`, stays away `for`, then reconnects and resumes.
    Offline {
        /// From the start of the measured window.
        #[serde(with = "transport_core::duration")]
        at: Duration,
        /// How long it stays away.
        #[serde(rename = "for", with = "transport_core::duration")]
        length: Duration,
    },
}

impl Behaviour {
    /// Every behaviour's scenario name (fixed: scripts outside the repo use them).
    pub const NAMES: &'static [&'static str] = &["slow", "paused", "batch", "offline"];

    /// The scenario name.
    pub fn name(&self) -> &'static str {
        match self {
            Behaviour::Slow { .. } => "slow",
            Behaviour::Paused { .. } => "paused",
            Behaviour::Batch { .. } => "batch",
            Behaviour::Offline { .. } => "offline",
        }
    }

    /// The read gate that makes a client behave so.
    pub fn gate(&self) -> GateBehaviour {
        match *self {
            Behaviour::Slow { read_bytes_per_sec } => GateBehaviour::Slow {
                bytes_per_sec: read_bytes_per_sec,
            },
            Behaviour::Paused {
                pause_at,
                pause_for,
            } => GateBehaviour::Paused {
                at: pause_at,
                length: pause_for,
            },
            Behaviour::Batch { interval } => GateBehaviour::Batch { interval },
            Behaviour::Offline { at, length } => GateBehaviour::Offline { at, length },
        }
    }

    /// When, from the start of the measured window, the consumer stops lagging by design
    /// (the end of its pause or absence); `None` while the whole window lags (slow, batch).
    pub fn ends_at(&self) -> Option<Duration> {
        match *self {
            Behaviour::Paused {
                pause_at,
                pause_for,
            } => Some(pause_at + pause_for),
            Behaviour::Offline { at, length } => Some(at + length),
            Behaviour::Slow { .. } | Behaviour::Batch { .. } => None,
        }
    }
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `[[consumers]]` entry, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsumerClass {
    /// What its subscribers do.
    #[serde(flatten)]
    pub behaviour: Behaviour,
    /// Shares of the subscribers to sweep (each in 0..=1).
    pub share: Vec<f64>,
    /// `SO_RCVBUF` of its subscribers' sockets, bytes (default 64 KiB); `None` keeps the
    /// kernel's autotuning, which on loopback grows a receive buffer to megabytes and so hides
    /// a slow reader's backlog in its own kernel instead of leaving it with the server.
    pub receive_buffer: Option<u32>,
    /// Whether loss among its subscribers is allowed (counted either way).
    pub allow_loss: bool,
}

impl ConsumerClass {
    /// The run tag naming this class's share, e.g. `slow_share`.
    pub fn tag(&self) -> String {
        format!("{}_share", self.behaviour.name())
    }
}

/// Which class each subscriber of one run is in: `None` reads at full speed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// By subscriber id: the index into the scenario's classes, or `None`.
    pub class_of: Vec<Option<usize>>,
}

impl Assignment {
    /// Assigns `round(share × subscribers)` subscribers to each class, in class order, walking
    /// the subscribers in a fixed stride that is coprime to their count, so a class spreads
    /// over every topic instead of taking the first ones (which share topics in blocks).
    pub fn new(subscribers: u32, shares: &[f64]) -> Assignment {
        let n = subscribers as usize;
        let mut class_of = vec![None; n];
        let step = stride(n);
        let mut walk = (0..n).map(|j| (j * step) % n.max(1));
        for (class, &share) in shares.iter().enumerate() {
            let count = (share * n as f64).round() as usize;
            for id in walk.by_ref().take(count) {
                class_of[id] = Some(class);
            }
        }
        Assignment { class_of }
    }

    /// Subscriber ids in class `class`, ascending.
    pub fn members(&self, class: Option<usize>) -> Vec<u32> {
        (0..self.class_of.len())
            .filter(|&i| self.class_of[i] == class)
            .map(|i| i as u32)
            .collect()
    }

    /// Whether any subscriber lags by design.
    pub fn any(&self) -> bool {
        self.class_of.iter().any(Option::is_some)
    }
}

/// The smallest step near `n × 0.618` that is coprime to `n`: a walk that visits every
/// subscriber once and spreads neighbours apart.
fn stride(n: usize) -> usize {
    if n <= 2 {
        return 1;
    }
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let start = ((n as f64) * 0.618) as usize;
    (start.max(1)..n).find(|&s| gcd(s, n) == 1).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_become_counts_spread_over_topics() {
        let a = Assignment::new(20, &[0.1, 0.25]);
        assert_eq!(a.members(Some(0)).len(), 2);
        assert_eq!(a.members(Some(1)).len(), 5);
        assert_eq!(a.members(None).len(), 13);
        // With 2 topics (even/odd ids), a class of two takes one of each.
        let slow = a.members(Some(0));
        assert_ne!(slow[0] % 2, slow[1] % 2, "{slow:?}");
        assert_eq!(a, Assignment::new(20, &[0.1, 0.25]), "deterministic");
    }

    #[test]
    fn every_subscriber_is_visited_once() {
        for n in [1usize, 2, 3, 10, 97, 1000] {
            let a = Assignment::new(n as u32, &[1.0]);
            assert_eq!(a.members(Some(0)).len(), n);
        }
        assert!(!Assignment::new(10, &[0.0]).any());
    }
}
