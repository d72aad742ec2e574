//! The delivery audit: for one (subscriber, publisher) pair, which sequence numbers arrived,
//! which arrived twice, which arrived late, and (at the end) which never arrived.
//!
//! Publishers number their messages 0, 1, 2, ... without gaps, so in the common case (in order,
//! no loss) the audit is one comparison and one increment. Only gaps cost memory: they are kept
//! as ranges, so a late message can be told apart from a duplicate.

use std::collections::BTreeMap;

/// What one arrival was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// First copy, in order (possibly after a gap).
    Fresh,
    /// First copy, but a later message of the same publisher arrived before it.
    Reordered,
    /// A copy of a message that already arrived.
    Duplicate,
}

/// Audit state for one (subscriber, publisher) pair.
#[derive(Debug, Default, Clone)]
pub struct PairAudit {
    /// One past the highest sequence number seen.
    next: u64,
    /// Missing ranges below `next`: start → end (exclusive).
    gaps: BTreeMap<u64, u64>,
    unique: u64,
    duplicated: u64,
    reordered: u64,
}

/// Final counts for a pair, once the publisher's total is known.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PairCounts {
    /// Distinct messages received.
    pub delivered: u64,
    /// Published messages never received.
    pub lost: u64,
    /// Extra copies received.
    pub duplicated: u64,
    /// Messages received after a later one.
    pub reordered: u64,
}

impl PairAudit {
    /// Records the arrival of `seq`.
    pub fn record(&mut self, seq: u64) -> Arrival {
        if seq == self.next {
            self.next += 1;
            self.unique += 1;
            return Arrival::Fresh;
        }
        if seq > self.next {
            self.gaps.insert(self.next, seq);
            // The recorder rejects implausible sequence numbers, so this cannot overflow.
            self.next = seq.saturating_add(1);
            self.unique += 1;
            return Arrival::Fresh;
        }
        // Below the high-water mark: a late message if it sits in a gap, else a duplicate.
        let Some((&start, &end)) = self.gaps.range(..=seq).next_back() else {
            self.duplicated += 1;
            return Arrival::Duplicate;
        };
        if seq >= end {
            self.duplicated += 1;
            return Arrival::Duplicate;
        }
        self.gaps.remove(&start);
        if start < seq {
            self.gaps.insert(start, seq);
        }
        if seq + 1 < end {
            self.gaps.insert(seq + 1, end);
        }
        self.unique += 1;
        self.reordered += 1;
        Arrival::Reordered
    }

    /// One past the highest sequence number seen: what the subscriber holds up to.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Distinct messages received so far.
    pub fn unique(&self) -> u64 {
        self.unique
    }

    /// Final counts given that the publisher published `published` messages (0..published).
    pub fn finish(&self, published: u64) -> PairCounts {
        PairCounts {
            delivered: self.unique,
            lost: published.saturating_sub(self.unique),
            duplicated: self.duplicated,
            reordered: self.reordered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn in_order_stream() {
        let mut a = PairAudit::default();
        for s in 0..10 {
            assert_eq!(a.record(s), Arrival::Fresh);
        }
        assert_eq!(
            a.finish(10),
            PairCounts {
                delivered: 10,
                lost: 0,
                duplicated: 0,
                reordered: 0
            }
        );
        assert_eq!(
            a.finish(12).lost,
            2,
            "messages after the last arrival are lost too"
        );
    }

    #[test]
    fn gaps_late_arrivals_and_duplicates() {
        let mut a = PairAudit::default();
        for s in [0, 1, 5, 3, 3, 1, 6, 4] {
            a.record(s);
        }
        // 2 never came; 3 and 4 were late; the second 3 and the second 1 are duplicates.
        assert_eq!(
            a.finish(7),
            PairCounts {
                delivered: 6,
                lost: 1,
                duplicated: 2,
                reordered: 2
            }
        );
    }

    proptest! {
        /// Against a model (a set), for any arrival sequence.
        #[test]
        fn matches_a_set_model(arrivals in proptest::collection::vec(0u64..64, 0..300)) {
            let mut a = PairAudit::default();
            let mut seen = std::collections::BTreeSet::new();
            let mut dups = 0;
            for &s in &arrivals {
                let kind = a.record(s);
                if !seen.insert(s) {
                    dups += 1;
                    prop_assert_eq!(kind, Arrival::Duplicate);
                } else {
                    prop_assert_ne!(kind, Arrival::Duplicate);
                }
            }
            let c = a.finish(64);
            prop_assert_eq!(c.delivered, seen.len() as u64);
            prop_assert_eq!(c.duplicated, dups);
            prop_assert_eq!(c.lost, 64 - seen.len() as u64);
        }
    }
}
