//! Reduces what a run recorded to its `runs[]` entry: merged histograms, the audit totals,
//! throughput, wire overhead, saturation and pass/fail.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use transport_core::counters::DistributionSummary;

use super::audit::PairCounts;
use super::output::{CellResult, RunOutput};
use super::recorder::{Latencies, SubscriberRecorder, latency_histogram};
use super::topic::shares_topic;
use crate::results::cost::{Cost, IdleCost};
use crate::results::failures::{Failure, FailureKind, Failures};
use crate::results::latency::{
    IntervalPoint, Latency, Percentiles, Throughput, spectrum, timeseries,
};
use crate::results::run::{Delivery, LoadCheck, RunIdentity, RunResult};
use crate::results::summary::BrowserResult;
use crate::results::wire::{Traffic, Wire};
use crate::scenario::{Client, Rate, RunSpec};

#[path = "aggregate_status.rs"]
mod status;
use status::{failures, saturation_reasons};

/// Schedule lag p99 above this means the generator (or a blocking publish) distorted the load.
pub const MAX_LAG_P99_NS: u64 = 10_000_000;
/// A run that achieved less than this share of its offered rate is saturated.
pub const MIN_ACHIEVED_SHARE: f64 = 0.95;
/// The generator thread waking later than this at p99 makes a run invalid: its latencies
/// include the harness's own delay (see [`generator_distorts`]).
pub const MAX_GENERATOR_LAG_P99_NS: u64 = 5_000_000;
/// ...unless that delay is at most this share of the run's median latency: then it moves no
/// latency figure at or above the median by more than this share.
pub const MAX_GENERATOR_SHARE_OF_P50: f64 = 0.05;

/// Whether the generator's own lag distorts the run's latencies: above
/// [`MAX_GENERATOR_LAG_P99_NS`] at p99, and not small beside the median latency (thousands of
/// subscribers take hundreds of milliseconds per fan-out, where a few milliseconds of
/// generator delay on a busy load core change nothing measurable).
pub fn generator_distorts(generator_lag_p99: u64, latency_p50: u64) -> bool {
    generator_lag_p99 > MAX_GENERATOR_LAG_P99_NS
        && generator_lag_p99 as f64 > latency_p50 as f64 * MAX_GENERATOR_SHARE_OF_P50
}

/// Turns a finished run into its result: each part of the entry from the phase that recorded
/// it.
pub fn reduce(mut out: RunOutput, allow_loss: bool) -> CellResult {
    let browser = (out.spec.client == Client::Browser).then(|| browser_result(&mut out));
    let rec = Recorded::merge(&out.recorders, &out.latencies);
    let audit = Audit::of(&out);
    let latency = latency(&out, &rec);
    let load = load_check(&out, &rec, &audit, &latency);
    let consumers = super::class_results::results(&out);
    let lost = match (consumers.is_empty(), allow_loss) {
        (true, true) => 0,
        (true, false) => audit.totals.lost,
        (false, _) => super::class_results::unallowed_loss(&consumers, allow_loss),
    };
    let failures = failures(std::mem::take(&mut out.failures), &rec, lost);
    let (traffic, overhead_bytes) = traffic(&out, &rec, &audit);
    let result = RunResult {
        delivery: audit.delivery(out.measured),
        load,
        latency,
        traffic,
        timeseries: with_resources(timeseries(&out.intervals), &out.resources.per_second()),
        faults: std::mem::take(&mut out.faults),
        consumers,
        cost: cost(&out, &rec, overhead_bytes),
        browser,
        tls: out.tls.clone(),
        ..RunResult::unmeasured(identity(&out.spec), failures)
    };
    CellResult {
        result,
        latency: rec.latency,
        intervals: out.intervals,
        window_start: Some(out.window_start),
        clock_offset_ns: out.clock_offset_ns,
    }
}

/// Throughput and the latency summaries of the measured window.
fn latency(out: &RunOutput, rec: &Recorded) -> Latency {
    let secs = out.measured.as_secs_f64();
    let msgs_per_sec = rec.delivered_in_window as f64 / secs;
    Latency {
        throughput: Throughput {
            msgs_per_sec,
            payload_bytes_per_sec: msgs_per_sec * out.spec.payload_bytes as f64,
            published_per_sec: out.published_in_window as f64 / secs,
        },
        latency_ns: Percentiles::of(&rec.latency),
        latency_from_send_ns: Percentiles::of(&rec.from_send),
        schedule_lag_ns: Percentiles::of(&out.schedule_lag),
        latency_spectrum: spectrum(&rec.latency),
    }
}

/// Whether the generator kept time (validity) and the system kept up (saturation).
fn load_check(out: &RunOutput, rec: &Recorded, audit: &Audit, latency: &Latency) -> LoadCheck {
    let generator_lag = Percentiles::of(&out.generator_lag);
    let reasons = saturation_reasons(out, rec, audit, &latency.schedule_lag_ns, &generator_lag);
    let invalid_reason = generator_distorts(generator_lag.p99, latency.latency_ns.p50).then(|| {
        format!(
            "the load generator itself woke {:.1} ms late at p99: the machine could not produce the offered load on time",
            generator_lag.p99 as f64 / 1e6
        )
    });
    LoadCheck {
        valid: invalid_reason.is_none(),
        invalid_reason,
        generator_lag_ns: generator_lag,
        saturated: !reasons.is_empty(),
        saturation_reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
    }
}

/// Wire bytes, delivery units and counters; also the steady-state overhead bytes idle cost is
/// made of.
fn traffic(out: &RunOutput, rec: &Recorded, audit: &Audit) -> (Traffic, f64) {
    let (wire, overhead_bytes) = wire(out, audit.published, audit.totals.delivered);
    let traffic = Traffic {
        wire,
        messages_per_delivery_unit: if rec.units.is_empty() {
            DistributionSummary::default()
        } else {
            DistributionSummary::of(&rec.units)
        },
        empty_delivery_units: rec.empty_units,
        counters: counters(out, rec),
        distributions: out
            .distributions
            .iter()
            .filter(|(_, h)| !h.is_empty())
            .map(|(k, h)| (k.clone(), DistributionSummary::of(h)))
            .collect(),
    };
    (traffic, overhead_bytes)
}

/// Set-up time, idle cost and the processes' resources.
fn cost(out: &RunOutput, rec: &Recorded, overhead_bytes: f64) -> Cost {
    let spec = &out.spec;
    Cost {
        idle_cost: idle_cost(overhead_bytes, &out.counters, spec.subscribers, out.elapsed),
        resources: out
            .resources
            .figures(rec.delivered_in_window, spec.subscribers),
        setup_secs: Some(out.setup.as_secs_f64()),
    }
}

/// What the subscribers' recorders hold, merged.
struct Recorded {
    latency: Histogram<u64>,
    from_send: Histogram<u64>,
    units: Histogram<u64>,
    empty_units: u64,
    corrupt: u64,
    misrouted: u64,
    overflow: u64,
    delivered_in_window: u64,
    /// Of those, received by subscribers that read at full speed.
    full_delivered_in_window: u64,
}

impl Recorded {
    fn merge(recorders: &[Option<SubscriberRecorder>], latencies: &Latencies) -> Recorded {
        let all = || recorders.iter().flatten();
        let mut units = Histogram::<u64>::new(3).expect("valid precision");
        for r in all() {
            let _ = units.add(&r.units);
        }
        Recorded {
            latency: latencies.latency.clone(),
            from_send: latencies.from_send.clone(),
            units,
            empty_units: all().map(|r| r.empty_units).sum(),
            corrupt: all().map(|r| r.corrupt).sum(),
            misrouted: all().map(|r| r.misrouted).sum(),
            overflow: all().map(|r| r.overflow).sum(),
            delivered_in_window: all().map(|r| r.delivered_in_window).sum(),
            full_delivered_in_window: all()
                .filter(|r| r.class_slot().is_none_or(|c| c == 0))
                .map(|r| r.delivered_in_window)
                .sum(),
        }
    }
}

/// The delivery audit's totals over every (subscriber, publisher) pair sharing a topic.
struct Audit {
    totals: PairCounts,
    /// Messages published, all publishers.
    published: u64,
    /// Deliveries the measured window's publishes call for, each counted once per full-speed
    /// subscriber (every subscriber in a run without consumer classes).
    expected_in_window_full: f64,
}

impl Audit {
    /// Every subscriber against every publisher of its topic; subscribers that never finished
    /// (setup or task failure) lose everything they should have received.
    fn of(out: &RunOutput) -> Audit {
        let mut totals = PairCounts::default();
        let mut full_share = 0.0;
        let full = |s: usize| {
            out.classes
                .assignment
                .as_ref()
                .is_none_or(|a| a.class_of[s].is_none())
        };
        let published_total: u64 = out.published.iter().sum();
        for s in 0..out.spec.subscribers as usize {
            for (p, &published) in out.published.iter().enumerate() {
                if !shares_topic(p as u32, s as u32, out.topics) {
                    continue;
                }
                let c = match out.recorders.get(s).and_then(Option::as_ref) {
                    Some(r) => r.audits[p].finish(published),
                    None => PairCounts {
                        lost: published,
                        ..PairCounts::default()
                    },
                };
                totals.delivered += c.delivered;
                totals.lost += c.lost;
                totals.duplicated += c.duplicated;
                totals.reordered += c.reordered;
                if published_total > 0 {
                    let share = published as f64 / published_total as f64;
                    if full(s) {
                        full_share += share;
                    }
                }
            }
        }
        Audit {
            totals,
            published: published_total,
            expected_in_window_full: out.published_in_window as f64 * full_share,
        }
    }
}

impl Audit {
    /// The delivery part of the run's entry.
    fn delivery(&self, measured: std::time::Duration) -> Delivery {
        Delivery {
            measured_secs: measured.as_secs_f64(),
            published: self.published,
            delivered: self.totals.delivered,
            lost: self.totals.lost,
            duplicated: self.totals.duplicated,
            reordered: self.totals.reordered,
        }
    }
}

/// Bytes on the wire and overhead per message; also the steady-state overhead bytes (all
/// non-handshake bytes that were not payload), which idle cost is made of.
fn wire(out: &RunOutput, published: u64, delivered: u64) -> (Wire, f64) {
    let wire = crate::results::wire::WireCounts {
        publisher: out.publisher_wire,
        subscriber: out.subscriber_wire,
        server: out.server_wire,
        server_mirrored: out.server_wire_mirrored,
        payload_bytes: out.spec.payload_bytes,
        published,
        delivered,
        plaintext: out.plaintext_wire,
    }
    .wire();
    // Non-payload steady-state bytes in total (what idle cost is made of).
    let steady = (wire.client.read + wire.client.written) as f64;
    let payload = (wire.payload_bytes_published + wire.payload_bytes_delivered) as f64;
    (wire, steady - payload)
}

/// A browser run's page figures; also puts the subscribers' wire bytes, which no harness socket
/// saw, in place from the server's: every byte the server read came from a publisher or a
/// subscriber, and the counting wrapper counts a socket's bytes identically at both ends. A
/// server that counts nothing (nginx) leaves the kernel's count of the browser's connections
/// (`browser::transport`), if the kernel's counters could be read.
fn browser_result(out: &mut RunOutput) -> BrowserResult {
    let one = |name: &str| {
        out.distributions
            .get(name)
            .filter(|h| !h.is_empty())
            .map(|h| h.max())
    };
    let publisher = out.publisher_wire;
    // A server whose bytes were not measured (remote without metrics) leaves them unavailable.
    let server = out.server_wire.filter(|s| s.connections > 0);
    let counted_at = if server.is_some() {
        "server"
    } else if out.subscriber_wire.connections > 0 {
        "kernel"
    } else {
        "unavailable"
    };
    if let Some(server) = server {
        out.subscriber_wire = transport_core::WireSnapshot {
            read: server.written.saturating_sub(publisher.read),
            written: server.read.saturating_sub(publisher.written),
            handshake_read: server
                .handshake_written
                .saturating_sub(publisher.handshake_read),
            handshake_written: server
                .handshake_read
                .saturating_sub(publisher.handshake_written),
            connections: server.connections.saturating_sub(publisher.connections),
        };
    }
    BrowserResult {
        chromium: crate::browser::version().map(str::to_owned),
        timer_resolution_ns: one(crate::browser::TIMER_RESOLUTION),
        clock_uncertainty_ns: one(crate::browser::CLOCK_UNCERTAINTY),
        subscriber_wire_counted_at: counted_at.to_owned(),
    }
}

/// The transport's counters plus the harness's own.
fn counters(out: &RunOutput, rec: &Recorded) -> BTreeMap<String, u64> {
    let mut counters = out.counters.clone();
    counters.insert("harness_unsent".into(), out.unsent);
    counters.insert("harness_corrupt".into(), rec.corrupt);
    counters.insert("harness_misrouted".into(), rec.misrouted);
    counters.insert("harness_histogram_overflow".into(), rec.overflow);
    counters
}

/// Adds each second's CPU, memory and server occupancy to the latency timeseries; seconds that
/// delivered nothing but were sampled get a point of their own.
fn with_resources(
    mut points: Vec<IntervalPoint>,
    seconds: &[super::resources::SecondFigures],
) -> Vec<IntervalPoint> {
    for (i, s) in seconds.iter().enumerate() {
        if points.len() <= i {
            points.push(IntervalPoint {
                second: i as u32,
                ..IntervalPoint::default()
            });
        }
        let p = &mut points[i];
        (p.server_cpu_s, p.server_rss_bytes) = (s.server_cpu_s, s.server_rss_bytes);
        (p.load_cpu_s, p.load_rss_bytes) = (s.load_cpu_s, s.load_rss_bytes);
        p.set_occupancy(&s.occupancy);
    }
    points
}

/// Counters that are requests made to stay current (a re-poll, a ping, a fetch).
const IDLE_REQUEST_COUNTERS: &[&str] = &["polls", "pings", "fetches"];

/// What staying connected cost per subscriber per minute of `elapsed` (see [`IdleCost`]).
fn idle_cost(
    overhead_bytes: f64,
    counters: &std::collections::BTreeMap<String, u64>,
    subscribers: u32,
    elapsed: std::time::Duration,
) -> IdleCost {
    let per_sub_min = subscribers.max(1) as f64 * (elapsed.as_secs_f64() / 60.0);
    if per_sub_min <= 0.0 {
        return IdleCost::default();
    }
    let requests: std::collections::BTreeMap<String, u64> = IDLE_REQUEST_COUNTERS
        .iter()
        .filter_map(|&k| counters.get(k).map(|&v| (k.to_owned(), v)))
        .collect();
    IdleCost {
        bytes_per_subscriber_per_min: overhead_bytes.max(0.0) / per_sub_min,
        requests_per_subscriber_per_min: requests.values().sum::<u64>() as f64 / per_sub_min,
        requests,
    }
}

/// The result of a run that never got to measure (server or clients failed to start).
pub fn setup_failure(spec: &RunSpec, error: String) -> CellResult {
    CellResult {
        result: RunResult::unmeasured(
            identity(spec),
            Failures::from_iter([Failure::new(FailureKind::Setup, error)]),
        ),
        latency: latency_histogram(),
        intervals: Vec::new(),
        window_start: None,
        clock_offset_ns: None,
    }
}

/// What the spec says the run is.
fn identity(spec: &RunSpec) -> RunIdentity {
    RunIdentity {
        name: spec.name(),
        transport: spec.transport,
        tags: spec.tags.clone(),
        offered_rate: match spec.rate {
            Rate::PerSec(r) => Some(r),
            Rate::Max => None,
        },
        subscribers: spec.subscribers,
        payload_bytes: spec.payload_bytes,
    }
}

#[cfg(test)]
#[path = "aggregate_tests.rs"]
mod tests;
