//! Idempotent-producer state of one partition (KIP-98): per producer id, the epoch and the
//! sequence ranges of the last few batches appended, so a resent batch is answered with its
//! original offset instead of being appended twice.
//!
//! The state lives only in memory, even with file storage: a restarted broker has none, hands
//! out fresh producer ids, and accepts a producer it has no state for at whatever sequence it
//! sends (a resend that straddles a restart can then still be appended twice). The table is
//! bounded: once full, the producer idle the longest is forgotten, so hostile clients inventing
//! producer ids cannot grow it without bound.

use std::collections::{BTreeMap, HashMap, VecDeque};

/// Producer ids remembered per partition before the longest-idle one is evicted.
pub(crate) const MAX_PRODUCERS: usize = 65_536;
/// Batches remembered per producer: Kafka's limit on in-flight requests with idempotence.
const KEPT_BATCHES: usize = 5;

/// Kafka's OUT_OF_ORDER_SEQUENCE_NUMBER.
pub(crate) const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
/// Kafka's INVALID_PRODUCER_EPOCH.
pub(crate) const INVALID_PRODUCER_EPOCH: i16 = 47;

/// The idempotence fields of one batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchSeq {
    /// Producer id (`-1`: not idempotent).
    pub(crate) producer_id: i64,
    /// Producer epoch.
    pub(crate) epoch: i16,
    /// Sequence of the first record.
    pub(crate) first: i32,
    /// Sequence of the last record.
    pub(crate) last: i32,
}

/// A batch remembered for duplicate detection.
#[derive(Debug, Clone, Copy)]
struct Kept {
    first: i32,
    last: i32,
    base_offset: i64,
}

#[derive(Debug)]
struct Producer {
    epoch: i16,
    batches: VecDeque<Kept>,
    /// Tick of the last append, the key of this producer in `ProducerStates::idle`.
    used: u64,
}

/// What an idempotent batch is, given the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Append it.
    Append,
    /// Already appended at this base offset: answer success, append nothing.
    Duplicate(i64),
    /// Refuse it with this Kafka error code.
    Reject(i16),
}

/// The sequence after `s` (sequences wrap from `i32::MAX` to 0).
fn next_seq(s: i32) -> i32 {
    if s == i32::MAX { 0 } else { s + 1 }
}

/// The last sequence of a batch of `offsets` records starting at `first`.
pub(crate) fn last_seq(first: i32, offsets: i64) -> i32 {
    ((i64::from(first) + offsets - 1) % (i64::from(i32::MAX) + 1)) as i32
}

/// One partition's producer table.
#[derive(Debug)]
pub(crate) struct ProducerStates {
    producers: HashMap<i64, Producer>,
    /// Last-use tick → producer id: the eviction order.
    idle: BTreeMap<u64, i64>,
    tick: u64,
    cap: usize,
}

impl Default for ProducerStates {
    fn default() -> Self {
        ProducerStates::with_cap(MAX_PRODUCERS)
    }
}

impl ProducerStates {
    /// A table holding at most `cap` producers.
    pub(crate) fn with_cap(cap: usize) -> Self {
        ProducerStates {
            producers: HashMap::new(),
            idle: BTreeMap::new(),
            tick: 0,
            cap: cap.max(1),
        }
    }

    /// Number of producers remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.producers.len()
    }

    /// Judges `b`, expected to follow `prev` (the previous idempotent batch of the same
    /// producer in the same request, if any).
    pub(crate) fn check(&self, b: &BatchSeq, prev: Option<&BatchSeq>) -> Verdict {
        if let Some(p) = prev {
            return if b.epoch == p.epoch && b.first == next_seq(p.last) {
                Verdict::Append
            } else {
                Verdict::Reject(OUT_OF_ORDER_SEQUENCE_NUMBER)
            };
        }
        let Some(p) = self.producers.get(&b.producer_id) else {
            // Unknown (new, evicted, or from before a restart): nothing to compare with.
            return Verdict::Append;
        };
        if b.epoch < p.epoch {
            return Verdict::Reject(INVALID_PRODUCER_EPOCH);
        }
        if b.epoch > p.epoch {
            // A bumped epoch starts its sequences afresh.
            return Verdict::Append;
        }
        if let Some(k) = p.batches.iter().find(|k| k.first == b.first) {
            return if k.last == b.last {
                Verdict::Duplicate(k.base_offset)
            } else {
                Verdict::Reject(OUT_OF_ORDER_SEQUENCE_NUMBER)
            };
        }
        match p.batches.back() {
            Some(k) if b.first != next_seq(k.last) => Verdict::Reject(OUT_OF_ORDER_SEQUENCE_NUMBER),
            _ => Verdict::Append,
        }
    }

    /// Records that `b` was appended at `base_offset`.
    pub(crate) fn appended(&mut self, b: &BatchSeq, base_offset: i64) {
        self.tick += 1;
        let tick = self.tick;
        if !self.producers.contains_key(&b.producer_id)
            && self.producers.len() >= self.cap
            && let Some((_, old)) = self.idle.pop_first()
        {
            self.producers.remove(&old);
        }
        let p = self.producers.entry(b.producer_id).or_insert(Producer {
            epoch: b.epoch,
            batches: VecDeque::new(),
            used: tick,
        });
        self.idle.remove(&p.used);
        self.idle.insert(tick, b.producer_id);
        p.used = tick;
        if p.epoch != b.epoch {
            p.epoch = b.epoch;
            p.batches.clear();
        }
        if p.batches.len() == KEPT_BATCHES {
            p.batches.pop_front();
        }
        p.batches.push_back(Kept {
            first: b.first,
            last: b.last,
            base_offset,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(pid: i64, epoch: i16, first: i32, n: i64) -> BatchSeq {
        BatchSeq {
            producer_id: pid,
            epoch,
            first,
            last: last_seq(first, n),
        }
    }

    #[test]
    fn duplicates_out_of_order_and_epochs() {
        let mut s = ProducerStates::default();
        let a = seq(7, 0, 0, 3);
        assert_eq!(s.check(&a, None), Verdict::Append);
        s.appended(&a, 100);
        assert_eq!(s.check(&a, None), Verdict::Duplicate(100));
        let b = seq(7, 0, 3, 2);
        assert_eq!(s.check(&b, None), Verdict::Append);
        s.appended(&b, 103);
        // Both kept batches are recognised as duplicates.
        assert_eq!(s.check(&a, None), Verdict::Duplicate(100));
        assert_eq!(s.check(&b, None), Verdict::Duplicate(103));
        // A gap, or a known start with another length, is out of order.
        let gap = Verdict::Reject(OUT_OF_ORDER_SEQUENCE_NUMBER);
        assert_eq!(s.check(&seq(7, 0, 6, 1), None), gap);
        assert_eq!(s.check(&seq(7, 0, 3, 1), None), gap);
        assert_eq!(s.check(&seq(7, 0, 5, 1), Some(&a)), gap);
        assert_eq!(s.check(&seq(7, 0, 5, 1), Some(&b)), Verdict::Append);
        // Epochs: older refused, newer starts over.
        let fenced = Verdict::Reject(INVALID_PRODUCER_EPOCH);
        assert_eq!(s.check(&seq(7, -1, 5, 1), None), fenced);
        assert_eq!(s.check(&seq(7, 1, 0, 1), None), Verdict::Append);
        // Sequences wrap.
        assert_eq!(last_seq(i32::MAX, 2), 0);
        s.appended(&seq(8, 0, i32::MAX - 1, 2), 200);
        assert_eq!(s.check(&seq(8, 0, 0, 1), None), Verdict::Append);
    }

    #[test]
    fn keeps_five_batches_and_evicts_the_longest_idle() {
        let mut s = ProducerStates::with_cap(2);
        for i in 0..7 {
            s.appended(&seq(1, 0, i, 1), i64::from(i));
        }
        // Seq 1 has been forgotten: no longer a recognisable duplicate.
        let gap = Verdict::Reject(OUT_OF_ORDER_SEQUENCE_NUMBER);
        assert_eq!(s.check(&seq(1, 0, 1, 1), None), gap);
        assert_eq!(s.check(&seq(1, 0, 2, 1), None), Verdict::Duplicate(2));
        s.appended(&seq(2, 0, 0, 1), 10);
        s.appended(&seq(1, 0, 7, 1), 11); // 1 is now the most recent
        s.appended(&seq(3, 0, 0, 1), 12); // evicts 2
        assert_eq!(s.len(), 2);
        assert_eq!(s.check(&seq(2, 0, 0, 1), None), Verdict::Append);
        assert_eq!(s.check(&seq(1, 0, 7, 1), None), Verdict::Duplicate(11));
    }
}
