//! One host's share of a scenario (`run --shard I/N`) and the instant all shards start at
//! (`run --start-at RFC3339`).
//!
//! The split is by topic: shard `I` of `N` owns the topics `t` with `t % N == I`, and exactly
//! the publishers and subscribers of those topics (publisher `p` and subscriber `s` use topic
//! `id % topics`, the runner's topic rule). Every (publisher, subscriber) pair whose latency is
//! measured therefore lives on one host, and no clock offset between hosts enters a latency
//! sample. A scenario with fewer topics than shards would leave a shard with nothing to do, so
//! it is refused.
//!
//! This module is pure: the runner asks [`Shard::owns_publisher`] and
//! [`Shard::owns_subscriber`] which clients to start, and [`StartAt::wait`] before warm-up.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// Why a `--shard` or `--start-at` value, or a shard of a given scenario, is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// Not of the form `I/N` with two non-negative integers.
    #[error("`{0}` is not a shard: expected I/N with integers, e.g. 0/4 (shard 0 of 4)")]
    Syntax(String),
    /// `N` was 0.
    #[error("shard count must be at least 1, got {0}")]
    ZeroCount(String),
    /// `I >= N`.
    #[error("shard index {index} must be below the shard count {count} (allowed: 0..={max})", max = count - 1)]
    IndexTooLarge {
        /// The index given.
        index: u32,
        /// The count given.
        count: u32,
    },
    /// Fewer topics than shards: some shard would own nothing.
    #[error(
        "--shard {index}/{count} needs at least {count} topics so that every shard owns one; the scenario has {topics} (set `topics` to {count} or more, or use fewer shards)"
    )]
    TooFewTopics {
        /// The shard's index.
        index: u32,
        /// The shard count.
        count: u32,
        /// The scenario's topics.
        topics: u32,
    },
    /// Not an RFC 3339 UTC instant.
    #[error(
        "`{0}` is not an RFC 3339 UTC instant: expected e.g. 2026-12-04T13:00:00Z (as printed by `date -u +%FT%TZ`)"
    )]
    StartAt(String),
}

/// Shard `index` of `count`: see the module documentation for what it owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// The whole scenario on one host (shard 0 of 1).
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`; `count >= 1` and `index < count`.
    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 {
            return Err(ShardError::ZeroCount(format!("{index}/{count}")));
        }
        if index >= count {
            return Err(ShardError::IndexTooLarge { index, count });
        }
        Ok(Shard { index, count })
    }

    /// This shard's index, below [`Shard::count`].
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many shards the scenario is split into.
    pub fn count(self) -> u32 {
        self.count
    }

    /// Refuses a scenario with fewer topics than shards (some shard would own nothing).
    pub fn check_topics(self, topics: u32) -> Result<(), ShardError> {
        if topics < self.count {
            return Err(ShardError::TooFewTopics {
                index: self.index,
                count: self.count,
                topics,
            });
        }
        Ok(())
    }

    /// Whether topic `t` is this shard's.
    pub fn owns_topic(self, t: u32) -> bool {
        t % self.count == self.index
    }

    /// Whether this shard runs publisher `p` of a run with `topics` topics.
    pub fn owns_publisher(self, p: u32, topics: u32) -> bool {
        self.owns_topic(topic_of(p, topics))
    }

    /// Whether this shard runs subscriber `s` of a run with `topics` topics.
    pub fn owns_subscriber(self, s: u32, topics: u32) -> bool {
        self.owns_topic(topic_of(s, topics))
    }

    /// The topic ids this shard owns, of `topics`.
    pub fn topics(self, topics: u32) -> Vec<u32> {
        (0..topics).filter(|&t| self.owns_topic(t)).collect()
    }

    /// How many of ids `0..clients` (publishers or subscribers) this shard runs.
    pub fn clients_owned(self, clients: u32, topics: u32) -> u32 {
        (0..clients)
            .filter(|&c| self.owns_topic(topic_of(c, topics)))
            .count() as u32
    }
}

/// The topic a publisher or subscriber id uses: the runner's rule (publisher `p` and
/// subscriber `s` share a topic when `p % topics == s % topics`).
fn topic_of(client: u32, topics: u32) -> u32 {
    client % topics.max(1)
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(s.to_owned());
        let (i, n) = s.trim().split_once('/').ok_or_else(syntax)?;
        let index = i.trim().parse::<u32>().map_err(|_| syntax())?;
        let count = n.trim().parse::<u32>().map_err(|_| syntax())?;
        Shard::new(index, count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The wall-clock instant at which every shard starts its warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartAt(SystemTime);

impl StartAt {
    /// The instant.
    pub fn instant(self) -> SystemTime {
        self.0
    }

    /// How far this host's clock is past the instant right now, ns (negative: still ahead).
    pub fn offset_now_ns(self) -> i64 {
        signed_ns(SystemTime::now(), self.0)
    }

    /// Sleeps until the instant and returns how far past it the wake-up came, ns, as this host's
    /// clock reads it (the shard's offset from the instant; negative never, positive when the
    /// instant had already passed or the wake-up was late). The runner calls this between
    /// connecting its clients and starting warm-up.
    pub async fn wait(self) -> i64 {
        if let Ok(left) = self.0.duration_since(SystemTime::now()) {
            tokio::time::sleep(left).await;
        }
        self.offset_now_ns()
    }
}

fn signed_ns(a: SystemTime, b: SystemTime) -> i64 {
    match a.duration_since(b) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

impl FromStr for StartAt {
    type Err = ShardError;

    /// RFC 3339 in UTC (`Z`, or the equivalent `+00:00`), fractional seconds allowed.
    fn from_str(s: &str) -> Result<StartAt, ShardError> {
        let t = s.trim();
        let t = t
            .strip_suffix("+00:00")
            .map_or(t.to_owned(), |b| format!("{b}Z"));
        humantime::parse_rfc3339(&t)
            .map(StartAt)
            .map_err(|_| ShardError::StartAt(s.to_owned()))
    }
}

impl fmt::Display for StartAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since = self.0.duration_since(SystemTime::UNIX_EPOCH);
        if since.is_ok_and(|d| d.subsec_nanos() == 0) {
            write!(f, "{}", humantime::format_rfc3339_seconds(self.0))
        } else {
            write!(f, "{}", humantime::format_rfc3339_nanos(self.0))
        }
    }
}

/// How long from now until `at`; `None` when it has passed.
pub fn until(at: StartAt) -> Option<Duration> {
    at.0.duration_since(SystemTime::now()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_index_over_count_and_refuses_the_rest() {
        assert_eq!("1/3".parse::<Shard>(), Shard::new(1, 3));
        assert_eq!(" 0/1 ".parse::<Shard>(), Ok(Shard::WHOLE));
        for bad in ["", "1", "1/", "/2", "a/2", "1/b", "-1/2", "1/2/3", "1.0/2"] {
            assert!(
                matches!(bad.parse::<Shard>(), Err(ShardError::Syntax(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            "0/0".parse::<Shard>(),
            Err(ShardError::ZeroCount(_))
        ));
        let e = "3/3".parse::<Shard>().unwrap_err();
        assert_eq!(e, ShardError::IndexTooLarge { index: 3, count: 3 });
        assert!(e.to_string().contains("0..=2"), "{e}");
    }

    #[test]
    fn fewer_topics_than_shards_is_refused_with_the_numbers() {
        let s = Shard::new(0, 4).unwrap();
        let e = s.check_topics(3).unwrap_err().to_string();
        assert!(
            e.contains("at least 4 topics") && e.contains("has 3"),
            "{e}"
        );
        assert!(s.check_topics(4).is_ok());
    }

    #[test]
    fn shard_owns_its_topics_and_their_clients() {
        // 5 topics over 2 shards: shard 0 owns topics 0, 2, 4; shard 1 owns 1, 3.
        let (a, b) = (Shard::new(0, 2).unwrap(), Shard::new(1, 2).unwrap());
        assert_eq!(a.topics(5), vec![0, 2, 4]);
        assert_eq!(b.topics(5), vec![1, 3]);
        // Publisher 7 uses topic 2, subscriber 8 topic 3.
        assert!(a.owns_publisher(7, 5) && !b.owns_publisher(7, 5));
        assert!(b.owns_subscriber(8, 5) && !a.owns_subscriber(8, 5));
        assert_eq!(a.clients_owned(10, 5) + b.clients_owned(10, 5), 10);
        assert_eq!(a.clients_owned(10, 5), 6);
    }

    proptest! {
        /// Every client belongs to exactly one shard, and a pair that shares a topic shares a shard.
        #[test]
        fn shards_partition_clients_and_keep_pairs_together(
            count in 1u32..8, extra in 0u32..20, p in 0u32..500, s in 0u32..500,
        ) {
            let topics = count + extra;
            let shards: Vec<Shard> = (0..count).map(|i| Shard::new(i, count).unwrap()).collect();
            prop_assert_eq!(shards.iter().filter(|x| x.owns_publisher(p, topics)).count(), 1);
            prop_assert_eq!(shards.iter().filter(|x| x.owns_subscriber(s, topics)).count(), 1);
            if p % topics == s % topics {
                for x in &shards {
                    prop_assert_eq!(x.owns_publisher(p, topics), x.owns_subscriber(s, topics));
                }
            }
            for x in &shards {
                prop_assert!(x.check_topics(topics).is_ok());
                prop_assert!(!x.topics(topics).is_empty());
            }
        }
    }

    #[test]
    fn start_at_reads_rfc3339_utc_and_prints_it_back() {
        let t: StartAt = "2026-12-04T13:00:00Z".parse().unwrap();
        assert_eq!(t.to_string(), "2026-12-04T13:00:00Z");
        let same: StartAt = "2026-12-04T13:00:00+00:00".parse().unwrap();
        assert_eq!(t, same);
        let frac: StartAt = "2026-12-04T13:00:00.250Z".parse().unwrap();
        assert_eq!(
            frac.instant().duration_since(t.instant()).unwrap(),
            Duration::from_millis(250)
        );
        for bad in [
            "tomorrow",
            "2026-12-04",
            "2026-12-04T13:00:00+02:00",
            "1700000000",
        ] {
            let e = bad.parse::<StartAt>().unwrap_err().to_string();
            assert!(e.contains("RFC 3339"), "{bad}: {e}");
        }
    }

    #[tokio::test]
    async fn waiting_for_a_past_instant_returns_at_once_with_a_positive_offset() {
        let past = StartAt(SystemTime::now() - Duration::from_secs(2));
        let off = past.wait().await;
        assert!(off >= 2_000_000_000, "{off}");
        let soon = StartAt(SystemTime::now() + Duration::from_millis(30));
        assert!(until(soon).is_some());
        let off = soon.wait().await;
        assert!(off >= 0, "woke before the instant: {off}");
    }
}
