//! How far one subscriber fell behind, for runs with consumer classes: the largest backlog it
//! had (messages its topic's publishers had handed over that it had not yet received), the
//! oldest message it was still catching up on, and how long after its lag ended by design (a
//! pause or absence over, or the window over for a slow reader) it had caught up.
//!
//! Measured as units arrive, so a paused subscriber's backlog is seen at its first read after
//! the pause, when it is largest. Runs without classes track none of this.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::audit::PairAudit;

/// One subscriber's lag figures.
#[derive(Debug, Clone)]
pub struct LagTrack {
    /// Publishers of its topic.
    publishers: Vec<u32>,
    /// When its lag ends by design (clock ns); `None` for a full-speed subscriber.
    end_ns: Option<u64>,
    /// Messages intended before this are warm-up: their age is not lag.
    measure_start_ns: u64,
    /// Largest backlog seen, messages.
    pub max_messages: u64,
    /// Age of the oldest message it received, ns (from its intended send time).
    pub max_ns: u64,
    /// From `end_ns` until it held everything published before then, or received a message
    /// intended after it.
    pub catch_up_ns: Option<u64>,
}

/// The oldest and newest intended send time among a unit's first copies.
#[derive(Debug, Clone, Copy)]
pub struct UnitAges {
    /// Smallest intended time, clock ns.
    pub oldest: u64,
    /// Largest intended time, clock ns.
    pub newest: u64,
}

impl UnitAges {
    /// No message yet.
    pub const EMPTY: UnitAges = UnitAges {
        oldest: u64::MAX,
        newest: 0,
    };

    /// Takes one more message's intended time.
    pub fn add(&mut self, intended_ns: u64) {
        self.oldest = self.oldest.min(intended_ns);
        self.newest = self.newest.max(intended_ns);
    }
}

impl LagTrack {
    /// A track for a subscriber of a topic fed by `publishers`, lagging by design until
    /// `end_ns` (`None`: never).
    pub fn new(publishers: Vec<u32>, end_ns: Option<u64>, measure_start_ns: u64) -> LagTrack {
        LagTrack {
            publishers,
            end_ns,
            measure_start_ns,
            max_messages: 0,
            max_ns: 0,
            catch_up_ns: None,
        }
    }

    /// After a unit at `now` that brought `fresh` first copies: their ages, what each
    /// publisher had handed over, and the audit. The backlog counted is the one the unit
    /// found: what was still owed after it, plus what it brought (a long poll or a fetch
    /// after a pause takes the whole backlog in one unit).
    pub fn observe(
        &mut self,
        (now, fresh): (u64, u64),
        ages: UnitAges,
        published: &[Arc<AtomicU64>],
        audits: &[PairAudit],
    ) {
        let backlog: u64 = self
            .publishers
            .iter()
            .map(|&p| {
                let handed = published.get(p as usize).map_or(0, |c| c.load(Relaxed));
                handed.saturating_sub(audits[p as usize].next())
            })
            .sum();
        self.max_messages = self.max_messages.max(backlog + fresh);
        if ages.oldest >= self.measure_start_ns && ages.oldest != u64::MAX {
            self.max_ns = self.max_ns.max(now.saturating_sub(ages.oldest));
        }
        if let Some(end) = self.end_ns
            && self.catch_up_ns.is_none()
            && now >= end
            && (backlog == 0 || ages.newest >= end)
        {
            self.catch_up_ns = Some(now - end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backlog_age_and_catch_up() {
        let published = vec![Arc::new(AtomicU64::new(10))];
        let mut audits = vec![PairAudit::default()];
        for s in 0..4 {
            audits[0].record(s);
        }
        let mut t = LagTrack::new(vec![0], Some(1_000), 100);
        let mut ages = UnitAges::EMPTY;
        ages.add(300);
        t.observe((900, 4), ages, &published, &audits);
        assert_eq!((t.max_messages, t.max_ns, t.catch_up_ns), (10, 600, None));
        for s in 4..10 {
            audits[0].record(s);
        }
        let mut ages = UnitAges::EMPTY;
        ages.add(950);
        t.observe((1_250, 6), ages, &published, &audits);
        assert_eq!(
            t.catch_up_ns,
            Some(250),
            "nothing left once the pause ended"
        );
        assert_eq!(t.max_messages, 10);
    }
}
