//! One shard's share of a run (`run --shard I/N`), run as a smaller run of its own.
//!
//! The runner numbers publishers, subscribers and topics from 0 and pairs them by
//! [`super::topic::topic_of`]. A shard's share is renumbered the same way: its owned topics keep their
//! order and become `0..T'`, and its clients keep their order and become `0..P'` and `0..S'`.
//! Global client `c = q·T + r` (topic `r`, owned) becomes local `q·T' + rank(r)`, so the local
//! topic rule `local % T'` gives `rank(r)`: exactly the pairs that shared a topic still share one,
//! and every other part of the runner (connect, schedule, audit, drain) stays as it is. The
//! open-loop rate is scaled by `P'/P`, so each publisher keeps the rate it has in the whole run;
//! the merged result's offered rate is then the sum of the shards'.

use std::borrow::Cow;

use crate::scenario::{Rate, RunSpec, Scenario};
use crate::shard::Shard;

/// The scenario and run spec this host runs: the whole of them without a shard, the shard's
/// renumbered share with one (see the module documentation).
pub fn of<'a>(
    shard: Option<Shard>,
    scenario: &'a Scenario,
    spec: &'a RunSpec,
) -> (Cow<'a, Scenario>, Cow<'a, RunSpec>) {
    let Some(shard) = shard.filter(|s| s.count() > 1) else {
        return (Cow::Borrowed(scenario), Cow::Borrowed(spec));
    };
    let topics = scenario.topics;
    let publishers = shard.clients_owned(scenario.publishers, topics);
    let mut part = scenario.clone();
    part.topics = shard.topics(topics).len() as u32;
    part.publishers = publishers;
    let mut spec = spec.clone();
    spec.subscribers = shard.clients_owned(spec.subscribers, topics);
    if let Rate::PerSec(rate) = spec.rate {
        spec.rate = Rate::PerSec(rate * f64::from(publishers) / f64::from(scenario.publishers));
    }
    (Cow::Owned(part), Cow::Owned(spec))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::topic::topic_of;
    use crate::shard::Shard;

    /// The local id of each owned client of `0..clients`, in order.
    fn owned(shard: Shard, clients: u32, topics: u32) -> Vec<u32> {
        (0..clients)
            .filter(|&c| shard.owns_topic(topic_of(c, topics)))
            .collect()
    }

    proptest! {
        /// Renumbering keeps exactly the pairs that shared a topic, so the shard's local run
        /// measures the same (publisher, subscriber) pairs as the whole run did.
        #[test]
        fn renumbered_share_keeps_exactly_the_pairs(
            count in 1u32..6, extra in 0u32..10, pubs in 0u32..40, subs in 0u32..60,
        ) {
            let topics = count + extra;
            let (pubs, subs) = (pubs + topics, subs + topics);
            for i in 0..count {
                let shard = Shard::new(i, count).unwrap();
                let local_topics = shard.topics(topics).len() as u32;
                let (p, s) = (owned(shard, pubs, topics), owned(shard, subs, topics));
                prop_assert_eq!(p.len() as u32, shard.clients_owned(pubs, topics));
                for (lp, &gp) in p.iter().enumerate() {
                    for (ls, &gs) in s.iter().enumerate() {
                        let whole = topic_of(gp, topics) == topic_of(gs, topics);
                        let local = topic_of(lp as u32, local_topics)
                            == topic_of(ls as u32, local_topics);
                        prop_assert_eq!(whole, local, "publisher {} subscriber {}", gp, gs);
                    }
                }
            }
        }
    }
}
