//! Churn and storms as the clients live them: which subscriber or publisher a `churn` fault
//! cuts when (the plan every gate and tally of a run reads), and, per subscriber, when it was
//! live again after each cut: the first delivery of a message sent after the cut.

use std::time::Duration;

use crate::link::{FaultKind, FaultTarget, churn_cuts};
use crate::scenario::Scenario;

/// Which kind of client a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Subscribers, by id.
    Subscribers,
    /// Publishers, by id.
    Publishers,
}

impl Side {
    /// Whether a churn aimed at `target` cuts this side.
    fn hit_by(self, target: FaultTarget) -> bool {
        matches!(
            (self, target),
            (_, FaultTarget::All)
                | (Side::Subscribers, FaultTarget::Subscribers)
                | (Side::Publishers, FaultTarget::Publishers)
        )
    }
}

/// By client id (`count` clients of `side`): when its connection is cut, from the start of
/// the measured window. A churn's rate or share applies to each side it targets.
pub fn plan(scenario: &Scenario, count: u32, side: Side) -> Vec<Vec<Duration>> {
    let mut cuts = vec![Vec::new(); count as usize];
    for f in &scenario.faults {
        if let (FaultKind::Churn, Some(rate), true) = (f.kind, f.churn, side.hit_by(f.target)) {
            for (mine, more) in cuts
                .iter_mut()
                .zip(churn_cuts(rate, f.at, f.duration, count))
            {
                mine.extend(more);
            }
        }
    }
    cuts
}

/// One subscriber's cuts and when it was live again after each.
#[derive(Debug, Clone, Default)]
pub struct CutTally {
    /// When each cut fell, clock ns, in time order.
    at: Vec<u64>,
    /// When a message sent after each cut first arrived, clock ns (0: not yet).
    back: Vec<u64>,
    /// The first cut not yet followed by a delivery.
    next: usize,
}

impl CutTally {
    /// A tally for cuts at `at` (clock ns, any order).
    pub fn new(mut at: Vec<u64>) -> CutTally {
        at.sort_unstable();
        CutTally {
            back: vec![0; at.len()],
            at,
            next: 0,
        }
    }

    /// A message sent at `sent_ns` arrived at `now_ns`: every earlier cut is over.
    pub fn arrived(&mut self, sent_ns: u64, now_ns: u64) {
        while self.at.get(self.next).is_some_and(|&c| c <= sent_ns) {
            self.back[self.next] = now_ns;
            self.next += 1;
        }
    }

    /// The cuts inside `[from, to)` (clock ns): how long each took to be live again (`None`
    /// for one never followed by a delivery).
    pub fn outages(&self, from: u64, to: u64) -> impl Iterator<Item = Option<u64>> + '_ {
        self.at
            .iter()
            .zip(&self.back)
            .filter(move |&(&c, _)| (from..to).contains(&c))
            .map(|(&c, &b)| (b != 0).then(|| b.saturating_sub(c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_ends_with_the_first_message_sent_after_it() {
        let mut t = CutTally::new(vec![300, 100]);
        t.arrived(50, 120);
        t.arrived(150, 180);
        t.arrived(200, 400);
        let all: Vec<_> = t.outages(0, 1000).collect();
        assert_eq!(all, vec![Some(80), None]);
        assert_eq!(t.outages(200, 1000).count(), 1);
    }
}
