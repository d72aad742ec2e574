//! Runs a scenario's matrix, one transport at a time, and turns raw recordings into results.
//!
//! The matrix loop and the context a cell runs with are in `matrix.rs`; the phases of one cell
//! live in `run.rs` (generic over the transport); the run's server handle in `server.rs`; the
//! open-loop timetable in `schedule.rs`; the publish phase and the publisher loops (where
//! messages are stamped) in `publish.rs`, with the closed-loop flow control it owns in
//! `flow.rs`; receive loops, drain and close in `clients.rs`; per-subscriber recording (the one
//! decode of each message) in `recorder.rs` (histogram shape in `results/histogram.rs`); the delivery
//! audit in `audit.rs`; firing faults and per-fault accounting in `faults.rs`; and the
//! reduction to a [`RunResult`] in `aggregate.rs`.

pub mod aggregate;
pub mod audit;
mod clients;
pub mod faults;
pub mod flow;
pub mod matrix;
mod progress;
pub mod publish;
pub mod recorder;
pub mod resources;
mod run;
pub mod schedule;
pub mod server;
pub mod share;
mod timeline;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use transport_core::{Transport, WireSnapshot};

pub use matrix::{Matrix, MatrixRun, RunCtx, run_cell, run_with};
pub use progress::Progress;
pub use recorder::SubscriberRecorder;

use crate::registry::Visit;
use crate::results::RunResult;
use crate::scenario::{RunSpec, Scenario};
use crate::shard::{Shard, StartAt};

/// What `run`'s multi-host flags add to a scenario's run: this host's share, the instant its
/// warm-up starts at, and servers someone else runs. The default is the whole run, now, with
/// every server started here.
#[derive(Debug, Clone, Default)]
pub struct HostPlan {
    /// Run only this shard's share (see [`share`]).
    pub shard: Option<Shard>,
    /// Connect, then wait for this instant before warm-up.
    pub start_at: Option<StartAt>,
    /// Servers to reach instead of starting one, by transport.
    pub remote: BTreeMap<crate::registry::TransportKind, server::Remote>,
}

/// The topic client `client` (publisher or subscriber id) uses, of `topics`: publisher `p` and
/// subscriber `s` share a topic when their ids agree modulo the topic count.
pub fn topic_of(client: u32, topics: u32) -> u32 {
    client % topics.max(1)
}

/// Whether publisher `p` and subscriber `s` share a topic (see [`topic_of`]).
pub fn shares_topic(p: u32, s: u32, topics: u32) -> bool {
    topic_of(p, topics) == topic_of(s, topics)
}

/// Everything one run recorded, before reduction to a [`RunResult`].
#[derive(Debug)]
pub struct RunOutput {
    /// The matrix cell.
    pub spec: RunSpec,
    /// The transport's options as used (defaults filled in).
    pub effective_config: serde_json::Value,
    /// One per subscriber, by subscriber id; `None` where its task failed or hung (everything
    /// it should have received then counts as lost).
    pub recorders: Vec<Option<SubscriberRecorder>>,
    /// Latency histograms of the measured window, all subscribers.
    pub latencies: recorder::Latencies,
    /// Latency per second of the measured window, all subscribers.
    pub intervals: Vec<Histogram<u64>>,
    /// Actual minus intended send time, all publishers.
    pub schedule_lag: Histogram<u64>,
    /// Messages each publisher had accepted (index = publisher id).
    pub published: Vec<u64>,
    /// Of all published, those intended inside the measured window.
    pub published_in_window: u64,
    /// Scheduled messages publishers never sent.
    pub unsent: u64,
    /// Topics in the run (see [`topic_of`]).
    pub topics: u32,
    /// Length of the measured window.
    pub measured: Duration,
    /// Bytes at the publishers' sockets.
    pub publisher_wire: WireSnapshot,
    /// Bytes at the subscribers' sockets.
    pub subscriber_wire: WireSnapshot,
    /// How late the open-loop generator thread itself woke (empty for closed loop).
    pub generator_lag: Histogram<u64>,
    /// Messages the schedule intended inside the measured window (open loop only).
    pub scheduled_in_window: Option<u64>,
    /// Server-side bytes; `None` when they could not be read.
    pub server_wire: Option<WireSnapshot>,
    /// Transport counters.
    pub counters: BTreeMap<String, u64>,
    /// Transport distributions.
    pub distributions: BTreeMap<String, Histogram<u64>>,
    /// Harness problems and transport errors; any makes the run fail.
    pub failures: crate::results::Failures,
    /// Start of the measured window ([`transport_core::clock`] ns).
    pub measure_start_ns: u64,
    /// Connecting every client, from the first to the last being live.
    pub setup: Duration,
    /// From the first scheduled message to the end of the drain (what idle cost is per).
    pub elapsed: Duration,
    /// Samples of the server's and the load generator's processes.
    pub resources: resources::ResourceLog,
    /// One result per scheduled fault (empty without `[[faults]]`).
    pub faults: Vec<crate::results::faults::FaultResult>,
    /// Wall-clock time at the start of the measured window: the anchor that lines up the
    /// per-second figures of shards on different hosts.
    pub window_start: SystemTime,
    /// How far past `--start-at` this host's clock was when warm-up began, ns.
    pub clock_offset_ns: Option<i64>,
}

/// The outcome of one cell: the summary entry plus the histograms behind it, for files.
#[derive(Debug)]
pub struct CellResult {
    /// The `runs[]` entry.
    pub result: RunResult,
    /// Latency from intended send, measured window, all subscribers.
    pub latency: Histogram<u64>,
    /// Per-second latency histograms.
    pub intervals: Vec<Histogram<u64>>,
    /// Wall-clock start of the measured window (`None` when the run never got to measure).
    pub window_start: Option<SystemTime>,
    /// How far past `--start-at` this host's clock was when warm-up began, ns.
    pub clock_offset_ns: Option<i64>,
}

/// The effective options of a transport, as JSON, for the results' effective scenario.
pub fn effective_options(scenario: &Scenario, spec: &RunSpec) -> anyhow::Result<serde_json::Value> {
    struct Opts<'a>(&'a Scenario, &'a RunSpec);
    impl Visit for Opts<'_> {
        type Output = anyhow::Result<serde_json::Value>;
        fn visit<T: Transport>(self) -> Self::Output {
            Ok(serde_json::to_value(run::config_for::<T>(self.0, self.1)?)?)
        }
    }
    spec.transport.visit(Opts(scenario, spec))
}
