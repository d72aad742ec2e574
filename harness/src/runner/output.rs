//! What a run hands on: [`RunOutput`], everything one run recorded, which the run's phases fill
//! and `aggregate` reduces; and [`CellResult`], the reduced entry with the histograms behind it,
//! which the matrix writes out. Both ends use them, so they sit apart from both.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use transport_core::WireSnapshot;

use super::recorder::{self, SubscriberRecorder};
use super::resources;
use crate::results::RunResult;
use crate::scenario::RunSpec;

/// Everything one run recorded, before reduction to a [`RunResult`].
#[derive(Debug)]
pub struct RunOutput {
    /// The matrix cell.
    pub spec: RunSpec,
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
    /// Topics in the run (see [`super::topic::topic_of`]).
    pub topics: u32,
    /// Length of the measured window.
    pub measured: Duration,
    /// Bytes at the publishers' sockets.
    pub publisher_wire: WireSnapshot,
    /// Bytes at the subscribers' sockets.
    pub subscriber_wire: WireSnapshot,
    /// Under TLS, the publishers' and subscribers' bytes above TLS.
    pub plaintext_wire: Option<(WireSnapshot, WireSnapshot)>,
    /// Under TLS, what the clients' first connection negotiated.
    pub tls: Option<transport_core::tls::Negotiated>,
    /// How late the open-loop generator thread itself woke (empty for closed loop).
    pub generator_lag: Histogram<u64>,
    /// Messages the schedule intended inside the measured window (open loop only).
    pub scheduled_in_window: Option<u64>,
    /// Server-side bytes; `None` when they could not be read.
    pub server_wire: Option<WireSnapshot>,
    /// Whether `server_wire` is the mirror of the clients' counts (a product server, whose
    /// sockets are not ours to count).
    pub server_wire_mirrored: bool,
    /// Transport counters.
    pub counters: BTreeMap<String, u64>,
    /// Transport distributions.
    pub distributions: BTreeMap<String, Histogram<u64>>,
    /// Harness problems and transport errors; any makes the run fail.
    pub failures: crate::results::Failures,
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
    /// The run's consumer classes (none without `[[consumers]]`).
    pub classes: super::consumers::RunClasses,
    /// Latency from intended send per class slot (full speed first); empty without classes.
    pub class_latencies: Vec<Histogram<u64>>,
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
