//! A run's consumer classes: which subscriber is in which class, the read gate each lagging
//! subscriber's sockets go through, and the lag track its recorder keeps. Built once per run
//! from the scenario's `[[consumers]]` and the cell's shares; a run without classes builds
//! nothing and pays nothing.

use std::sync::Arc;
use std::time::Duration;

use transport_core::{GateBehaviour, ReadGate};

use super::churn::Side;
use super::lag::LagTrack;
use super::recorder::SubscriberRecorder;
use super::timeline::Timeline;
use super::topic::shares_topic;
use crate::scenario::consumers::{Assignment, ConsumerClass};
use crate::scenario::{RunSpec, Scenario};

/// In a run with faults but no classes, every subscriber reads at full speed through a gate
/// that carries its churn cuts and logs its connections (what a storm costs); none otherwise.
fn fault_gates(scenario: &Scenario, subscribers: u32) -> Vec<Option<Arc<ReadGate>>> {
    if scenario.faults.is_empty() {
        return Vec::new();
    }
    super::churn::plan(scenario, subscribers, Side::Subscribers)
        .into_iter()
        .map(|cuts| Some(Arc::new(ReadGate::new(GateBehaviour::Full).with_cuts(cuts))))
        .collect()
}

/// The classes of one run.
#[derive(Debug, Default)]
pub struct RunClasses {
    /// The scenario's classes, in order.
    pub classes: Vec<ConsumerClass>,
    /// This cell's share of each.
    pub shares: Vec<f64>,
    /// Which subscriber is in which class (empty without classes).
    pub assignment: Option<Assignment>,
    /// By subscriber id: its gate, if its class lags or the run has faults.
    gates: Vec<Option<Arc<ReadGate>>>,
    /// By publisher id: its gate in a run with faults (churn cuts, connection log).
    publisher_gates: Vec<Arc<ReadGate>>,
}

/// In a run with faults, every publisher's gate: its churn cuts, if a churn targets
/// publishers, and its connection log; none otherwise.
fn publisher_gates(scenario: &Scenario) -> Vec<Arc<ReadGate>> {
    if scenario.faults.is_empty() {
        return Vec::new();
    }
    super::churn::plan(scenario, scenario.publishers, Side::Publishers)
        .into_iter()
        .map(|cuts| Arc::new(ReadGate::publisher().with_cuts(cuts)))
        .collect()
}

impl RunClasses {
    /// The classes of cell `spec` of `scenario`.
    pub fn new(scenario: &Scenario, spec: &RunSpec) -> RunClasses {
        if scenario.consumers.is_empty() {
            return RunClasses {
                gates: fault_gates(scenario, spec.subscribers),
                publisher_gates: publisher_gates(scenario),
                ..RunClasses::default()
            };
        }
        let assignment = Assignment::new(spec.subscribers, &spec.consumer_shares);
        let mut cuts =
            super::churn::plan(scenario, spec.subscribers, Side::Subscribers).into_iter();
        let gates = assignment
            .class_of
            .iter()
            .map(|c| {
                let cuts = cuts.next().unwrap_or_default();
                let gate = match *c {
                    Some(c) => {
                        let class = &scenario.consumers[c];
                        ReadGate::new(class.behaviour.gate()).with_recv_buffer(class.receive_buffer)
                    }
                    None if scenario.faults.is_empty() => return None,
                    None => ReadGate::new(GateBehaviour::Full),
                };
                Some(Arc::new(gate.with_cuts(cuts)))
            })
            .collect();
        RunClasses {
            classes: scenario.consumers.clone(),
            shares: spec.consumer_shares.clone(),
            assignment: Some(assignment),
            gates,
            publisher_gates: publisher_gates(scenario),
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

    /// Publisher `p`'s gate, in a run with faults.
    pub fn publisher_gate(&self, p: u32) -> Option<Arc<ReadGate>> {
        self.publisher_gates.get(p as usize).cloned()
    }

    /// Every watched publisher's connections, sorted (`None` when none was watched).
    pub fn publisher_connections(&self) -> Option<Vec<u64>> {
        sorted_connections(&self.publisher_gates)
    }

    /// Every watched subscriber's connections, sorted (`None` when none was watched).
    pub fn connections(&self) -> Option<Vec<u64>> {
        let gates: Vec<Arc<ReadGate>> = self.gates.iter().flatten().cloned().collect();
        sorted_connections(&gates)
    }

    /// When subscriber `i`'s connection is cut by churn, clock ns (after [`RunClasses::arm`]).
    pub fn cut_instants(&self, i: u32) -> Vec<u64> {
        self.gate(i).map(|g| g.cut_instants()).unwrap_or_default()
    }

    /// Starts every gate's behaviour with the measured window.
    pub fn arm(&self, timeline: &Timeline) {
        for gate in self.gates.iter().flatten().chain(&self.publisher_gates) {
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

/// The connection instants of every gate in `gates`, sorted (`None` without gates).
fn sorted_connections(gates: &[Arc<ReadGate>]) -> Option<Vec<u64>> {
    if gates.is_empty() {
        return None;
    }
    let mut all: Vec<u64> = gates.iter().flat_map(|g| g.connections()).collect();
    all.sort_unstable();
    Some(all)
}
