//! A finished run's `consumers[]`: the audit, latency and lag of each consumer class, full
//! speed first, reduced from the subscribers' recorders; and which of their losses the scenario
//! does not allow. Read by `aggregate` after the run, apart from the per-run set-up in
//! `consumers.rs`, which the run's output carries.

use super::audit::PairCounts;
use super::output::RunOutput;
use super::topic::shares_topic;
use crate::results::consumers::ConsumerResult;
use crate::results::latency::Percentiles;

/// The `consumers[]` entries of a finished run: full speed first, then each class.
pub fn results(out: &RunOutput) -> Vec<ConsumerResult> {
    let classes = &out.classes;
    let Some(a) = &classes.assignment else {
        return Vec::new();
    };
    let n = out.spec.subscribers.max(1) as f64;
    let slots = std::iter::once(None).chain((0..classes.classes.len()).map(Some));
    slots
        .enumerate()
        .map(|(slot, class)| {
            let members = a.members(class);
            let mut r = tally(out, &members);
            r.behaviour = class.map_or("full".to_owned(), |c| {
                classes.classes[c].behaviour.name().to_owned()
            });
            r.share = class.map_or(members.len() as f64 / n, |c| classes.shares[c]);
            r.allow_loss = class.is_some_and(|c| classes.classes[c].allow_loss);
            r.latency_ns = out
                .class_latencies
                .get(slot)
                .filter(|h| !h.is_empty())
                .map(Percentiles::of);
            if class.is_some() && !members.is_empty() {
                r.subscriber_ids = members;
            } else {
                r.catch_up_ns = None;
                r.caught_up = None;
            }
            r
        })
        .collect()
}

/// Audit counts and lag figures over the subscribers `members`.
fn tally(out: &RunOutput, members: &[u32]) -> ConsumerResult {
    let mut r = ConsumerResult {
        behaviour: String::new(),
        share: 0.0,
        subscribers: members.len() as u32,
        subscriber_ids: Vec::new(),
        allow_loss: false,
        delivered: 0,
        lost: 0,
        duplicated: 0,
        latency_ns: None,
        max_lag_messages: None,
        max_lag_ns: None,
        catch_up_ns: Some(0),
        caught_up: Some(0),
    };
    for &s in members {
        let rec = out.recorders.get(s as usize).and_then(Option::as_ref);
        for (p, &published) in out.published.iter().enumerate() {
            if !shares_topic(p as u32, s, out.topics) {
                continue;
            }
            let c = rec.map_or(
                PairCounts {
                    lost: published,
                    ..PairCounts::default()
                },
                |r| r.audits[p].finish(published),
            );
            (r.delivered, r.lost, r.duplicated) = (
                r.delivered + c.delivered,
                r.lost + c.lost,
                r.duplicated + c.duplicated,
            );
        }
        let lag = rec.and_then(|r| r.lag.as_deref());
        r.max_lag_messages = r.max_lag_messages.max(lag.map(|l| l.max_messages));
        r.max_lag_ns = r.max_lag_ns.max(lag.map(|l| l.max_ns));
        match lag.and_then(|l| l.catch_up_ns) {
            Some(t) => {
                r.catch_up_ns = r.catch_up_ns.map(|m| m.max(t));
                r.caught_up = r.caught_up.map(|c| c + 1);
            }
            None => r.catch_up_ns = None,
        }
    }
    r
}

/// Messages lost that the scenario does not allow: a class's own `allow_loss`, or the
/// scenario's, lets its losses stand without failing the run.
pub fn unallowed_loss(consumers: &[ConsumerResult], scenario_allows: bool) -> u64 {
    consumers
        .iter()
        .filter(|c| !(scenario_allows || c.allow_loss))
        .map(|c| c.lost)
        .sum()
}
