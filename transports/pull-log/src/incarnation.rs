//! Topic incarnations: which log a fetch position belongs to.
//!
//! Kafka names each incarnation of a topic by a random topic id (KIP-516): a topic deleted and
//! created again, or held by a memory broker that restarted, keeps its name but gets a new id.
//! Offsets mean nothing across incarnations: offset 500 of the new log is not the record after
//! offset 499 of the old one. So every position this client keeps is tagged with the id it was
//! read under, and a Metadata answer (on every connect and reconnect) with a different id sends
//! the positions back to the start of the new log instead of resuming in its middle.
//!
//! A broker that sends no id (the nil id: Metadata below v10, or a broker without topic ids)
//! proves nothing, so positions are then kept as before, and only an out-of-range fetch shows
//! that the log changed.

use std::sync::{Mutex, PoisonError};

use transport_core::Counter;

/// A non-nil topic id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TopicId([u8; 16]);

impl TopicId {
    /// The id of a Metadata answer; `None` for the nil id ("no id").
    pub(crate) fn from_wire(bytes: [u8; 16]) -> Option<TopicId> {
        (bytes != [0; 16]).then_some(TopicId(bytes))
    }
}

/// Whether positions read under `held` belong to another incarnation than `now`. Only two
/// known, different ids prove it.
pub(crate) fn changed(held: Option<TopicId>, now: Option<TopicId>) -> bool {
    matches!((held, now), (Some(a), Some(b)) if a != b)
}

/// The tag for positions after a Metadata answer of `now`: a known id replaces the old tag, a
/// missing one keeps it.
pub(crate) fn retag(held: Option<TopicId>, now: Option<TopicId>) -> Option<TopicId> {
    now.or(held)
}

/// The newest id one subscriber has seen, shared by its fetch connection and its group task,
/// so a restart both of them notice counts once in `epoch_resets`.
#[derive(Debug)]
pub(crate) struct Seen {
    newest: Mutex<Option<TopicId>>,
    resets: Counter,
}

impl Seen {
    /// Starts from `first` (the id seen when subscribing).
    pub(crate) fn new(first: Option<TopicId>, resets: Counter) -> Seen {
        Seen {
            newest: Mutex::new(first),
            resets,
        }
    }

    /// Records a Metadata answer's id; counts an epoch reset when it differs from the newest.
    pub(crate) fn observe(&self, now: Option<TopicId>) {
        let mut newest = self.newest.lock().unwrap_or_else(PoisonError::into_inner);
        if changed(*newest, now) {
            self.resets.inc();
        }
        *newest = retag(*newest, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use transport_core::Counters;

    #[test]
    fn only_two_known_different_ids_are_a_change() {
        let a = TopicId::from_wire([1; 16]);
        let b = TopicId::from_wire([2; 16]);
        assert_eq!(TopicId::from_wire([0; 16]), None);
        assert!(changed(a, b));
        assert!(!changed(a, a) && !changed(None, a) && !changed(a, None));
        assert_eq!((retag(a, None), retag(a, b), retag(None, b)), (a, b, b));

        let counters = Counters::default();
        let seen = Seen::new(a, counters.counter("epoch_resets"));
        for now in [a, None, b, b, None, a] {
            seen.observe(now);
        }
        // a → b, then b → a: two changes, however often each was seen.
        assert_eq!(counters.counter_values()["epoch_resets"], 2);
    }
}
