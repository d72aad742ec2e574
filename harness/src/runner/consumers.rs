//! A run's consumer classes: which subscriber is in which class, the read gate each lagging
//! subscriber's sockets go through, and the lag track its recorder keeps. Built once per run
//! from the scenario's `[[consumers]]` and the cell's shares; a run without classes builds
//! nothing and pays nothing.

use std::sync::Arc;
use std::time::Duration;

use transport_core::ReadGate;

use super::audit::PairCounts;
use super::lag::LagTrack;
use super::output::RunOutput;
use super::recorder::SubscriberRecorder;
use super::timeline::Timeline;
use super::topic::shares_topic;
use crate::results::consumers::ConsumerResult;
use crate::results::latency::Percentiles;
use crate::scenario::consumers::{Assignment, ConsumerClass};
use crate::scenario::{RunSpec, Scenario};

/// The classes of one run.
#[derive(Debug, Default)]
pub struct RunClasses {
    /// The scenario's classes, in order.
    pub classes: Vec<ConsumerClass>,
    /// This cell's share of each.
    pub shares: Vec<f64>,
    /// Which subscriber is in which class (empty without classes).
    pub assignment: Option<Assignment>,
    /// By subscriber id: its gate, if its class lags.
    gates: Vec<Option<Arc<ReadGate>>>,
}

impl RunClasses {
    /// The classes of cell `spec` of `scenario`.
    pub fn new(scenario: &Scenario, spec: &RunSpec) -> RunClasses {
        if scenario.consumers.is_empty() {
            return RunClasses::default();
        }
        let assignment = Assignment::new(spec.subscribers, &spec.consumer_shares);
        let gates = assignment
            .class_of
            .iter()
            .map(|c| {
                c.map(|c| {
                    let class = &scenario.consumers[c];
                    let gate = ReadGate::new(class.behaviour.gate());
                    Arc::new(gate.with_recv_buffer(class.receive_buffer))
                })
            })
            .collect();
        RunClasses {
            classes: scenario.consumers.clone(),
            shares: spec.consumer_shares.clone(),
            assignment: Some(assignment),
            gates,
        }
    }

    /// Latency histogram slots the run keeps: full speed plus one per class (0 without).
    pub fn slots(&self) -> usize {
        if self.assignment.is_some() {
            self.classes.len() + 1
        } else {
            0
        }
    }

    /// Subscriber `i`'s gate, if it lags by design.
    pub fn gate(&self, i: u32) -> Option<Arc<ReadGate>> {
        self.gates.get(i as usize).cloned().flatten()
    }

    /// Starts every gate's behaviour with the measured window.
    pub fn arm(&self, timeline: &Timeline) {
        for gate in self.gates.iter().flatten() {
            gate.arm(timeline.measure_start_ns, timeline.measure_end_ns);
        }
    }

    /// Subscriber `i`'s recorder, classed and tracking lag in a run with classes.
    pub fn recorder(
        &self,
        rec: SubscriberRecorder,
        i: u32,
        (publishers, topics): (u32, u32),
        timeline: &Timeline,
    ) -> SubscriberRecorder {
        let Some(a) = &self.assignment else {
            return rec;
        };
        let class = a.class_of[i as usize];
        let end = class.map(|c| {
            let window = Duration::from_nanos(timeline.measure_end_ns - timeline.measure_start_ns);
            let ends = self.classes[c].behaviour.ends_at().unwrap_or(window);
            timeline.measure_start_ns + u64::try_from(ends.as_nanos()).unwrap_or(u64::MAX)
        });
        let feeds = (0..publishers)
            .filter(|&p| shares_topic(p, i, topics))
            .collect();
        let lag = LagTrack::new(feeds, end, timeline.measure_start_ns);
        rec.classed(class.map_or(0, |c| c + 1), lag)
    }
}

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
