//! `summary.json`: the results contract other tools (charts, compare, external checks) rely on.
//!
//! Versioned by [`SCHEMA_VERSION`] and described by `harness/schema/summary.schema.json`; a
//! test validates real output against that schema. Fields may be added; the ones named in the
//! core issue (`schema_version`, `scenario`, `environment`, `runs[]` with `transport`, `tags`,
//! `offered_rate`, `published`, `delivered`, `lost`, `duplicated`, `reordered`, `saturated`,
//! `throughput`, `latency_ns`, `wire`, `counters`) are never renamed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use transport_core::WireSnapshot;
use transport_core::counters::DistributionSummary;

use super::environment::Environment;

/// Version of this layout; bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// Which scenario ran, with every default filled in.
    pub scenario: ScenarioInfo,
    /// Where it ran.
    pub environment: Environment,
    /// One entry per cell of the run matrix, in the order they ran.
    pub runs: Vec<RunResult>,
    /// The share of the scenario this folder holds, when run with `--shard` or `--start-at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<super::shards::ShardRecord>,
    /// The shards this folder was merged from, when written by `merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<super::shards::MergeRecord>,
}

/// The scenario as it ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioInfo {
    /// Scenario name.
    pub name: String,
    /// What it is meant to show.
    pub description: String,
    /// The file it was loaded from.
    pub file: String,
    /// The effective scenario after defaults and command-line overrides, including each
    /// transport's effective options.
    pub effective: serde_json::Value,
}

/// Latency or lag percentiles in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples recorded.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
    /// Mean.
    pub mean: f64,
    /// Smallest sample.
    pub min: u64,
}

/// One point of a percentile spectrum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantilePoint {
    /// Quantile in [0, 1].
    pub quantile: f64,
    /// Value at that quantile, ns.
    pub value_ns: u64,
}

/// Delivered throughput over the measured window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Messages delivered per second (counting each subscriber's copy).
    pub msgs_per_sec: f64,
    /// Payload bytes delivered per second.
    pub payload_bytes_per_sec: f64,
    /// Messages published per second (the achieved offered load).
    pub published_per_sec: f64,
}

/// Bytes on the wire, counted at the sockets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Wire {
    /// All bytes clients wrote (handshake included), measured at the client sockets.
    pub client_to_server_bytes: u64,
    /// All bytes clients read (handshake included), measured at the client sockets.
    pub server_to_client_bytes: u64,
    /// Of the above, bytes of connection setup in both directions.
    pub handshake_bytes: u64,
    /// Payload bytes published (each message once).
    pub payload_bytes_published: u64,
    /// Payload bytes delivered (each subscriber's copy).
    pub payload_bytes_delivered: u64,
    /// Steady-state bytes that are not payload, per delivered message, both hops together.
    pub overhead_bytes_per_msg: f64,
    /// Steady-state client→server bytes that are not payload, per published message.
    pub overhead_c2s_bytes_per_published: f64,
    /// Steady-state server→client bytes that are not payload, per delivered message.
    pub overhead_s2c_bytes_per_delivered: f64,
    /// Payload bytes (published + delivered) divided by all steady-state bytes.
    pub efficiency: f64,
    /// Steady-state bytes subscribers sent (poll and fetch requests, acks), per delivered
    /// message: the cost of pulling, zero for pure push.
    #[serde(default)]
    pub subscriber_c2s_bytes_per_delivered: f64,
    /// Steady-state bytes publishers received (acknowledgements, produce responses), per
    /// published message.
    #[serde(default)]
    pub publisher_s2c_bytes_per_published: f64,
    /// Raw client-side counts (publishers and subscribers together).
    pub client: WireSnapshot,
    /// Raw server-side counts; null when they could not be read (a remote server without
    /// `--server-metrics`, an external broker: `resources.server.unavailable_reason` says
    /// which), never zero.
    pub server: Option<WireSnapshot>,
    /// Raw counts at the publishers' sockets.
    #[serde(default)]
    pub publisher: WireSnapshot,
    /// Raw counts at the subscribers' sockets.
    #[serde(default)]
    pub subscriber: WireSnapshot,
}

/// One second of the run (seconds counted from the start of the measured window).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalPoint {
    /// Second index from the start of the measured window.
    pub second: u32,
    /// Messages received in that second.
    pub delivered: u64,
    /// Median latency from intended send, ns.
    pub p50_ns: u64,
    /// 99th percentile latency from intended send, ns.
    pub p99_ns: u64,
    /// Largest latency, ns.
    pub max_ns: u64,
    /// CPU seconds (user + system) the server process spent in that second; null when the
    /// server is not a process of its own that could be read.
    #[serde(default)]
    pub server_cpu_s: Option<f64>,
    /// CPU seconds the load generator's process spent in that second.
    #[serde(default)]
    pub load_cpu_s: Option<f64>,
    /// The server process's resident memory at the end of that second, bytes.
    #[serde(default)]
    pub server_rss_bytes: Option<u64>,
    /// The load generator's resident memory at the end of that second, bytes.
    #[serde(default)]
    pub load_rss_bytes: Option<u64>,
}

/// Whether a run passed: serialized as `"ok"` or `"failed"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Nothing failed.
    Ok,
    /// Something failed; the reasons are in `failures`.
    Failed,
}

impl RunStatus {
    /// `Ok` when there are no failures.
    pub fn from_failures(failures: &[String]) -> RunStatus {
        if failures.is_empty() {
            RunStatus::Ok
        } else {
            RunStatus::Failed
        }
    }

    /// The serialized spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
        }
    }

    /// Whether the run passed.
    pub fn is_ok(self) -> bool {
        self == RunStatus::Ok
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so width and alignment in format strings apply.
        f.pad(self.as_str())
    }
}

/// Compares with the serialized spelling, as tests and reports read it.
impl PartialEq<&str> for RunStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The result of one cell of the run matrix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// Tags joined as `key=value,...`.
    pub name: String,
    /// Transport name.
    pub transport: String,
    /// Repetition index (0-based) when the scenario ran with `--repeat N`; repetitions of one
    /// cell share `name` and `tags`.
    #[serde(default)]
    pub repetition: u32,
    /// Sorted tags naming the run.
    pub tags: BTreeMap<String, String>,
    /// Offered messages per second in total; null for closed-loop (`max`) runs.
    pub offered_rate: Option<f64>,
    /// Messages per subscriber in this run.
    pub subscribers: u32,
    /// Message size in bytes.
    pub payload_bytes: u64,
    /// Measured window in seconds (as actually elapsed).
    pub measured_secs: f64,
    /// Messages published (all phases).
    pub published: u64,
    /// Unique messages delivered, summed over subscribers (all phases).
    pub delivered: u64,
    /// Messages some subscriber should have received and never did.
    pub lost: u64,
    /// Extra copies received.
    pub duplicated: u64,
    /// Messages that arrived after a later message of the same publisher.
    pub reordered: u64,
    /// False when the load generator itself fell behind (its own wake-ups were late): the
    /// latencies then include the harness's delay, and the run should be repeated on a quieter
    /// machine.
    #[serde(default = "yes")]
    pub valid: bool,
    /// Why the run is invalid, if it is.
    #[serde(default)]
    pub invalid_reason: Option<String>,
    /// How late the generator thread woke for its releases (open loop only).
    #[serde(default)]
    pub generator_lag_ns: Percentiles,
    /// The generator could not keep the offered rate (or schedule lag was excessive): the
    /// latency figures describe an overloaded system, not the offered load.
    pub saturated: bool,
    /// Why the run is saturated, if it is.
    pub saturation_reason: Option<String>,
    /// "ok", or "failed" with reasons in `failures`.
    pub status: RunStatus,
    /// Reasons the run failed (lost messages, harness problems).
    pub failures: Vec<String>,
    /// Delivered throughput in the measured window.
    pub throughput: Throughput,
    /// End-to-end latency from the *intended* send time (open loop, no coordinated omission).
    pub latency_ns: Percentiles,
    /// End-to-end latency from the actual send time (hides generator lag; for comparison only).
    pub latency_from_send_ns: Percentiles,
    /// Actual minus intended send time.
    pub schedule_lag_ns: Percentiles,
    /// Latency-from-intended spectrum for "nines" charts.
    pub latency_spectrum: Vec<QuantilePoint>,
    /// Bytes on the wire.
    pub wire: Wire,
    /// Messages per delivery unit (HTTP response, WebSocket frame, fetch, socket read).
    pub messages_per_delivery_unit: DistributionSummary,
    /// Delivery units that carried no message (empty polls, empty fetches).
    pub empty_delivery_units: u64,
    /// Transport counters and harness error counts.
    pub counters: BTreeMap<String, u64>,
    /// Transport distributions.
    pub distributions: BTreeMap<String, DistributionSummary>,
    /// Per-second time series over the measured window.
    pub timeseries: Vec<IntervalPoint>,
    /// Files written for this run, relative to the results folder.
    pub files: RunFiles,
    /// One entry per scheduled fault (`[[faults]]`), in firing order; empty without faults.
    #[serde(default)]
    pub faults: Vec<FaultResult>,
    /// What staying connected cost, per subscriber per minute (meaningful when few messages
    /// flow; always reported).
    #[serde(default)]
    pub idle_cost: IdleCost,
    /// What the run cost the server and the load generator, each in its own process
    /// (unavailable sides carry null figures).
    #[serde(default)]
    pub resources: super::resources::Resources,
    /// Seconds from connecting the first client to the last one being live (null when set-up
    /// did not finish).
    #[serde(default)]
    pub setup_secs: Option<f64>,
    /// For a run whose subscribers were a headless Chromium page (`client=browser`): the
    /// browser, its clock, and where its wire bytes were counted. Absent for Rust clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<BrowserResult>,
}

/// What a browser run's figures rest on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BrowserResult {
    /// `Browser.getVersion`'s product (`Chrome/…`); null if no browser started.
    pub chromium: Option<String>,
    /// Smallest step of `performance.now()` measured in the page, ns: receive times are no
    /// finer than this. Null if no page loaded.
    pub timer_resolution_ns: Option<u64>,
    /// How far a page time mapped onto the harness clock may be off (half the shortest DevTools
    /// round trip of the calibration, plus the timer resolution), ns; null if no page loaded.
    pub clock_uncertainty_ns: Option<u64>,
    /// Where subscriber-side wire bytes come from: `server` (the browser's sockets are not the
    /// harness's, so they are the server's bytes minus the publishers'), or `unavailable` (an
    /// external server counts nothing).
    pub subscriber_wire_counted_at: String,
}

/// What one fault did to a run.
///
/// Attribution is approximate: a message counts against the fault that was the latest to fire
/// when the audit noticed it missing (a gap opened by a later arrival, or the tail never
/// delivered) or when its duplicate arrived. With one fault per run it is exact.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultResult {
    /// `reset-connections`, `server-restart` or `blackhole`.
    pub kind: String,
    /// Scheduled time from the start of the measured window, seconds.
    pub at_secs: f64,
    /// Blackhole length or server downtime, seconds (0 for resets).
    pub duration_secs: f64,
    /// Whose connections it hit (`all`, `subscribers`, `publishers`).
    pub target: String,
    /// Whether it fired before the run ended.
    pub fired: bool,
    /// From the fault to the moment every subscriber that recovered had received a message
    /// sent after the fault, ns; null if none did.
    pub recovery_ns: Option<u64>,
    /// Subscribers that received nothing sent after the fault.
    pub unrecovered_subscribers: u32,
    /// Reconnect attempts and retries from the fault until the next fault (or the end of the
    /// run): the sum of the transport counters whose names contain `reconnect` or `retries`,
    /// or are `poll_errors`.
    pub reconnects: u64,
    /// Messages lost, attributed to this fault.
    pub lost: u64,
    /// Duplicate deliveries, attributed to this fault.
    pub duplicated: u64,
    /// Why the fault could not be carried out, if it could not.
    pub error: Option<String>,
}

/// The cost of staying connected, per subscriber per minute of the run (warm-up plus measured
/// window): what re-polls, pings and empty fetches cost when there is little to deliver.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdleCost {
    /// Client-side steady-state bytes (both directions, handshake excluded) that are not
    /// payload, per subscriber per minute. Publishers' bytes are included; with few messages
    /// they are small.
    pub bytes_per_subscriber_per_min: f64,
    /// Requests made just to stay current, per subscriber per minute: the sum of the `polls`,
    /// `pings` and `fetches` counters (a transport without such counters reports 0).
    pub requests_per_subscriber_per_min: f64,
    /// The counters summed into `requests_per_subscriber_per_min`, with their totals.
    pub requests: BTreeMap<String, u64>,
}

/// Per-run files next to `summary.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunFiles {
    /// Percentile distribution in HdrHistogram's `.hgrm` text format.
    pub hgrm: String,
    /// HdrHistogram interval log (V2 + DEFLATE), one interval per second.
    pub interval_log: String,
    /// The whole latency-from-intended-send histogram of the measured window, V2 + DEFLATE
    /// (re-readable exactly; what `merge` adds). Absent in results from older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_hdr: Option<String>,
}

fn yes() -> bool {
    true
}
