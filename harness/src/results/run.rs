//! One `runs[]` entry, made of typed parts: what the run was (its identity, kept at the top),
//! then delivery, load validity, status and failures, latency, traffic, faults, cost and
//! browser. Each part is built by the runner phase that owns it and added part by part by
//! `merge`.
//!
//! The parts are `#[serde(flatten)]`ed and declared in the order their keys had when the entry
//! was one flat struct, so `summary.json` keeps its shape and key order exactly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::cost::Cost;
use super::failures::Failures;
use super::faults::FaultResult;
use super::latency::{IntervalPoint, Latency, Percentiles};
use super::wire::Traffic;
use crate::registry::TransportKind;

/// The result of one cell of the run matrix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// Tags joined as `key=value,...`.
    pub name: String,
    /// Which transport ran.
    pub transport: TransportKind,
    /// Repetition index (0-based) when the scenario ran with `--repeat N`; repetitions of one
    /// cell share `name` and `tags`.
    #[serde(default)]
    pub repetition: u32,
    /// Sorted tags naming the run.
    pub tags: BTreeMap<String, String>,
    /// For a run of a transport whose `[transport.<name>]` table sweeps a knob: the
    /// transport's effective options in this run, each swept knob at this run's value. Absent
    /// otherwise (`scenario.effective.transport_options` then holds the run's options).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_options: Option<serde_json::Value>,
    /// Offered messages per second in total; null for closed-loop (`max`) runs.
    pub offered_rate: Option<f64>,
    /// Subscribers in this run.
    pub subscribers: u32,
    /// Message size in bytes.
    pub payload_bytes: u64,
    /// What was published and what arrived (the delivery audit's totals).
    #[serde(flatten)]
    pub delivery: Delivery,
    /// Whether the load generator kept up, and the offered load was applied.
    #[serde(flatten)]
    pub load: LoadCheck,
    /// "ok", or "failed" with reasons in `failures`.
    pub status: RunStatus,
    /// Reasons the run failed, by kind.
    #[serde(flatten)]
    pub failures: Failures,
    /// Throughput and latency over the measured window.
    #[serde(flatten)]
    pub latency: Latency,
    /// Bytes on the wire, delivery units and the transport's own counters.
    #[serde(flatten)]
    pub traffic: Traffic,
    /// Per-second time series over the measured window.
    pub timeseries: Vec<IntervalPoint>,
    /// Files written for this run, relative to the results folder.
    pub files: RunFiles,
    /// One entry per scheduled fault (`[[faults]]`), in firing order; empty without faults.
    #[serde(default)]
    pub faults: Vec<FaultResult>,
    /// The audit, latency and lag per consumer class (`[[consumers]]`), full-speed
    /// subscribers first; absent without classes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<super::consumers::ConsumerResult>,
    /// What connecting, staying connected and running cost.
    #[serde(flatten)]
    pub cost: Cost,
    /// For a run whose subscribers were a headless Chromium page (`client=browser`): the
    /// browser, its clock, and where its wire bytes were counted. Absent for Rust clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<super::browser::BrowserResult>,
    /// For a run over TLS (`tls=on`): the version and cipher suite its clients negotiated.
    /// Absent over plaintext.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<transport_core::tls::Negotiated>,
    /// What limited this run's figures (`load-generator`, `server`, `window`, `link`,
    /// `offered-rate` or `unknown`). Absent in results from older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limited_by: Option<super::limits::Limit>,
    /// The utilisation figures behind `limited_by`, and its reason in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<super::limits::LimitFigures>,
}

/// What was published and delivered: the delivery audit over every (subscriber, publisher)
/// pair sharing a topic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
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
}

/// Whether the figures describe the offered load: the generator's own punctuality (validity)
/// and whether the system kept up with the load (saturation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadCheck {
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
}

impl Default for LoadCheck {
    /// Valid and not saturated: nothing was found wrong (a run that never measured says why in
    /// its failures instead).
    fn default() -> LoadCheck {
        LoadCheck {
            valid: true,
            invalid_reason: None,
            generator_lag_ns: Percentiles::default(),
            saturated: false,
            saturation_reason: None,
        }
    }
}

fn yes() -> bool {
    true
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
    pub fn from_failures(failures: &Failures) -> RunStatus {
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

/// What a run is, before anything is measured: the identity fields of its entry.
#[derive(Debug, Clone)]
pub struct RunIdentity {
    /// Tags joined as `key=value,...`.
    pub name: String,
    /// Which transport runs.
    pub transport: TransportKind,
    /// Sorted tags naming the run.
    pub tags: BTreeMap<String, String>,
    /// Offered messages per second in total; `None` for closed loop.
    pub offered_rate: Option<f64>,
    /// Subscribers in this run.
    pub subscribers: u32,
    /// Message size in bytes.
    pub payload_bytes: u64,
}

impl RunResult {
    /// An entry with nothing measured: what a run whose set-up failed reports, and the base
    /// the runner fills its parts into.
    pub fn unmeasured(id: RunIdentity, failures: Failures) -> RunResult {
        RunResult {
            name: id.name,
            transport: id.transport,
            repetition: 0,
            tags: id.tags,
            transport_options: None,
            offered_rate: id.offered_rate,
            subscribers: id.subscribers,
            payload_bytes: id.payload_bytes,
            delivery: Delivery::default(),
            load: LoadCheck::default(),
            status: RunStatus::from_failures(&failures),
            failures,
            latency: Latency::default(),
            traffic: Traffic::default(),
            timeseries: Vec::new(),
            files: RunFiles::default(),
            faults: Vec::new(),
            consumers: Vec::new(),
            cost: Cost::default(),
            browser: None,
            tls: None,
            limited_by: None,
            limits: None,
        }
    }

    /// Records one more failure and marks the run failed.
    pub fn fail(&mut self, failure: super::failures::Failure) {
        self.failures.push(failure);
        self.status = RunStatus::Failed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::failures::FailureKind;

    /// The keys of a `runs[]` entry, in the order the flat struct wrote them before it was made
    /// of parts: flattening must not move one.
    const KEYS: &[&str] = &[
        "name",
        "transport",
        "repetition",
        "tags",
        "offered_rate",
        "subscribers",
        "payload_bytes",
        "measured_secs",
        "published",
        "delivered",
        "lost",
        "duplicated",
        "reordered",
        "valid",
        "invalid_reason",
        "generator_lag_ns",
        "saturated",
        "saturation_reason",
        "status",
        "failures",
        "throughput",
        "latency_ns",
        "latency_from_send_ns",
        "schedule_lag_ns",
        "latency_spectrum",
        "wire",
        "messages_per_delivery_unit",
        "empty_delivery_units",
        "counters",
        "distributions",
        "timeseries",
        "files",
        "faults",
        "idle_cost",
        "resources",
        "setup_secs",
    ];

    fn entry(failures: Failures) -> RunResult {
        RunResult::unmeasured(
            RunIdentity {
                name: "transport=sse".into(),
                transport: TransportKind::Sse,
                tags: BTreeMap::from([("transport".into(), "sse".into())]),
                offered_rate: Some(10.0),
                subscribers: 1,
                payload_bytes: 100,
            },
            failures,
        )
    }

    #[test]
    fn parts_flatten_into_the_flat_keys_in_their_old_order() {
        let text = serde_json::to_string(&entry(Failures::default())).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        // serde_json's map sorts unless `preserve_order` is on; read the order from the text.
        let mut at: Vec<(usize, &str)> = KEYS
            .iter()
            .map(|k| (text.find(&format!("\"{k}\":")).unwrap(), *k))
            .collect();
        at.sort();
        assert_eq!(at.iter().map(|(_, k)| *k).collect::<Vec<_>>(), KEYS);
        assert_eq!(keys.len(), KEYS.len());
        assert_eq!(value["transport"], "sse");
        assert_eq!(value["status"], "ok");
    }

    #[test]
    fn an_entry_reads_back_with_its_parts_and_failure_kinds() {
        let mut failures = Failures::default();
        failures.add(FailureKind::Setup, "server did not start");
        let before = entry(failures);
        let text = serde_json::to_string(&before).unwrap();
        let after: RunResult = serde_json::from_str(&text).unwrap();
        assert_eq!(after.status, RunStatus::Failed);
        assert_eq!(after.failures, before.failures);
        assert_eq!(after.load, LoadCheck::default());
        assert_eq!(after.delivery, before.delivery);
        assert_eq!(serde_json::to_string(&after).unwrap(), text);
    }
}
