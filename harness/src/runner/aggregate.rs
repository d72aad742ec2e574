//! Reduces what a run recorded to its `runs[]` entry: merged histograms, the audit totals,
//! throughput, wire overhead, saturation and pass/fail.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use transport_core::counters::DistributionSummary;

use super::audit::PairCounts;
use super::recorder::{Latencies, SubscriberRecorder, latency_histogram};
use super::{CellResult, RunOutput};
use crate::results::summary::{
    BrowserResult, IdleCost, IntervalPoint, Percentiles, QuantilePoint, RunFiles, RunResult,
    RunStatus, Throughput, Wire,
};
use crate::scenario::{Client, Rate, RunSpec};

/// Quantiles in `latency_spectrum`.
pub const SPECTRUM: &[f64] = &[
    0.0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999, 1.0,
];
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

/// Percentiles of a histogram.
pub fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    Percentiles {
        count: h.len(),
        p50: h.value_at_quantile(0.5),
        p90: h.value_at_quantile(0.9),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
        mean: h.mean(),
        min: h.min(),
    }
}

/// Turns a finished run into its result.
pub fn reduce(mut out: RunOutput, allow_loss: bool) -> CellResult {
    let browser = (out.spec.client == Client::Browser).then(|| browser_result(&mut out));
    let spec = &out.spec;
    let rec = Recorded::merge(&out.recorders, &out.latencies);
    let audit = Audit::of(&out);
    let secs = out.measured.as_secs_f64();
    let lag = percentiles(&out.schedule_lag);
    let generator_lag = percentiles(&out.generator_lag);
    let reasons = saturation_reasons(&out, &rec, &audit, &lag, &generator_lag);
    let failures = failures(out.failures.clone(), &rec, audit.totals.lost, allow_loss);
    let (wire, overhead_bytes) = wire(&out, audit.published, audit.totals.delivered);
    let latency = percentiles(&rec.latency);
    let invalid_reason = generator_distorts(generator_lag.p99, latency.p50).then(|| {
        format!(
            "the load generator itself woke {:.1} ms late at p99: the machine could not produce the offered load on time",
            generator_lag.p99 as f64 / 1e6
        )
    });
    let msgs_per_sec = rec.delivered_in_window as f64 / secs;
    let result = RunResult {
        measured_secs: secs,
        published: audit.published,
        delivered: audit.totals.delivered,
        lost: audit.totals.lost,
        duplicated: audit.totals.duplicated,
        reordered: audit.totals.reordered,
        valid: invalid_reason.is_none(),
        invalid_reason,
        generator_lag_ns: generator_lag,
        saturated: !reasons.is_empty(),
        saturation_reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
        throughput: Throughput {
            msgs_per_sec,
            payload_bytes_per_sec: msgs_per_sec * spec.payload_bytes as f64,
            published_per_sec: out.published_in_window as f64 / secs,
        },
        latency_ns: latency,
        latency_from_send_ns: percentiles(&rec.from_send),
        schedule_lag_ns: lag,
        latency_spectrum: spectrum(&rec.latency),
        wire,
        messages_per_delivery_unit: if rec.units.is_empty() {
            DistributionSummary::default()
        } else {
            DistributionSummary::of(&rec.units)
        },
        empty_delivery_units: rec.empty_units,
        counters: counters(&out, &rec),
        distributions: out
            .distributions
            .iter()
            .filter(|(_, h)| !h.is_empty())
            .map(|(k, h)| (k.clone(), DistributionSummary::of(h)))
            .collect(),
        timeseries: with_resources(timeseries(&out.intervals), &out.resources.per_second()),
        idle_cost: idle_cost(overhead_bytes, &out.counters, spec.subscribers, out.elapsed),
        resources: out
            .resources
            .figures(rec.delivered_in_window, spec.subscribers),
        faults: out.faults,
        setup_secs: Some(out.setup.as_secs_f64()),
        browser,
        ..unmeasured(spec, failures)
    };
    CellResult {
        result,
        latency: rec.latency,
        intervals: out.intervals,
        window_start: Some(out.window_start),
        clock_offset_ns: out.clock_offset_ns,
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
        }
    }
}

/// The delivery audit's totals over every (subscriber, publisher) pair sharing a topic.
struct Audit {
    totals: PairCounts,
    /// Messages published, all publishers.
    published: u64,
    /// Deliveries the measured window's publishes call for (each counted once per subscriber).
    expected_in_window: f64,
}

impl Audit {
    /// Every subscriber against every publisher of its topic; subscribers that never finished
    /// (setup or task failure) lose everything they should have received.
    fn of(out: &RunOutput) -> Audit {
        let mut totals = PairCounts::default();
        let mut expected_in_window_share = 0.0;
        let published_total: u64 = out.published.iter().sum();
        for s in 0..out.spec.subscribers as usize {
            for (p, &published) in out.published.iter().enumerate() {
                if !super::shares_topic(p as u32, s as u32, out.topics) {
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
                    expected_in_window_share += published as f64 / published_total as f64;
                }
            }
        }
        Audit {
            totals,
            published: published_total,
            expected_in_window: out.published_in_window as f64 * expected_in_window_share,
        }
    }
}

/// Why the offered load was not applied or not delivered on time (empty: not saturated).
fn saturation_reasons(
    out: &RunOutput,
    rec: &Recorded,
    audit: &Audit,
    lag: &Percentiles,
    generator_lag: &Percentiles,
) -> Vec<String> {
    let secs = out.measured.as_secs_f64();
    let mut reasons = Vec::new();
    if out.unsent > 0 {
        reasons.push(format!(
            "publishers fell behind and never sent {} scheduled messages",
            out.unsent
        ));
    }
    if let Rate::PerSec(rate) = out.spec.rate {
        // Against what the schedule put in the window, not rate × seconds: at low rates the
        // rounding of a handful of messages must not look like saturation.
        let scheduled = out.scheduled_in_window.unwrap_or((rate * secs) as u64);
        if out.published_in_window == 0 && scheduled > 0 {
            // No latency sample can exist; say why instead of printing 0 ns.
            reasons.push(format!(
                "nothing was published inside the measured window ({scheduled} scheduled): the publishers were still held back by earlier sends (each publish waits for a round trip or a batch acknowledgement), so the run has no latency samples"
            ));
        } else if (out.published_in_window as f64) < scheduled as f64 * MIN_ACHIEVED_SHARE {
            let achieved = out.published_in_window as f64 / secs;
            reasons.push(format!("published {achieved:.0} msg/s of {rate} offered"));
        }
        if lag.p99 > MAX_LAG_P99_NS {
            // Either way the offered load was not applied on time; say whose delay it was.
            let whose = if generator_lag.p99 > MAX_GENERATOR_LAG_P99_NS
                && generator_lag.p99 >= lag.p99 / 2
            {
                "mostly the load generator's own: the machine could not keep up"
            } else if out.faults.iter().any(|f| f.fired) {
                // Publishers that wait for a reconnect hold the schedule back by the outage.
                "publishing blocked, in a run with faults: see faults[]"
            } else {
                "publishing blocked"
            };
            reasons.push(format!(
                "schedule lag p99 {:.1} ms ({whose})",
                lag.p99 as f64 / 1e6
            ));
        }
    }
    let expected = audit.expected_in_window;
    if expected > 0.0 && (rec.delivered_in_window as f64) < expected * MIN_ACHIEVED_SHARE {
        reasons.push(format!(
            "subscribers received {:.0}% of the window's messages within the window",
            100.0 * rec.delivered_in_window as f64 / expected
        ));
    }
    reasons
}

/// The run's failures: the harness's and the transport's, then what the audit found.
fn failures(mut failures: Vec<String>, rec: &Recorded, lost: u64, allow_loss: bool) -> Vec<String> {
    if lost > 0 && !allow_loss {
        failures.push(format!("{lost} messages lost"));
    }
    if rec.misrouted > 0 {
        failures.push(format!(
            "{} messages reached a subscriber of another topic",
            rec.misrouted
        ));
    }
    if rec.corrupt > 0 {
        failures.push(format!(
            "{} messages arrived damaged (bad envelope, sequence or length)",
            rec.corrupt
        ));
    }
    if rec.overflow > 0 {
        failures.push(format!(
            "{} latency samples exceeded the histogram's range",
            rec.overflow
        ));
    }
    failures
}

/// Bytes on the wire and overhead per message; also the steady-state overhead bytes (all
/// non-handshake bytes that were not payload), which idle cost is made of.
fn wire(out: &RunOutput, published: u64, delivered: u64) -> (Wire, f64) {
    let wire = crate::results::wire::WireCounts {
        publisher: out.publisher_wire,
        subscriber: out.subscriber_wire,
        server: out.server_wire,
        payload_bytes: out.spec.payload_bytes,
        published,
        delivered,
    }
    .wire();
    // Non-payload steady-state bytes in total (what idle cost is made of).
    let steady = (wire.client.read + wire.client.written) as f64;
    let payload = (wire.payload_bytes_published + wire.payload_bytes_delivered) as f64;
    (wire, steady - payload)
}

/// A browser run's page figures; also puts the subscribers' wire bytes, which no harness socket
/// saw, in place from the server's: every byte the server read came from a publisher or a
/// subscriber, and the counting wrapper counts a socket's bytes identically at both ends.
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
    let counted = server.is_some();
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
        subscriber_wire_counted_at: if counted { "server" } else { "unavailable" }.to_owned(),
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

/// Latency at each of [`SPECTRUM`]'s quantiles (empty without samples).
pub fn spectrum(latency: &Histogram<u64>) -> Vec<QuantilePoint> {
    if latency.is_empty() {
        return Vec::new();
    }
    SPECTRUM
        .iter()
        .map(|&q| QuantilePoint {
            quantile: q,
            value_ns: latency.value_at_quantile(q),
        })
        .collect()
}

/// One point per second of the measured window.
pub fn timeseries(intervals: &[Histogram<u64>]) -> Vec<IntervalPoint> {
    let at = |h: &Histogram<u64>, q: f64| {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(q)
        }
    };
    intervals
        .iter()
        .enumerate()
        .map(|(i, h)| IntervalPoint {
            second: i as u32,
            delivered: h.len(),
            p50_ns: at(h, 0.5),
            p99_ns: at(h, 0.99),
            max_ns: h.max(),
            ..IntervalPoint::default()
        })
        .collect()
}

/// Adds each second's CPU and memory to the latency timeseries; seconds that delivered nothing
/// but were sampled get a point of their own.
fn with_resources(
    mut points: Vec<IntervalPoint>,
    seconds: &[[(Option<f64>, Option<u64>); 2]],
) -> Vec<IntervalPoint> {
    for (i, &[(server_cpu, server_rss), (load_cpu, load_rss)]) in seconds.iter().enumerate() {
        if points.len() <= i {
            points.push(IntervalPoint {
                second: i as u32,
                ..IntervalPoint::default()
            });
        }
        let p = &mut points[i];
        (p.server_cpu_s, p.server_rss_bytes) = (server_cpu, server_rss);
        (p.load_cpu_s, p.load_rss_bytes) = (load_cpu, load_rss);
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
        result: unmeasured(spec, vec![error]),
        latency: latency_histogram(),
        intervals: Vec::new(),
        window_start: None,
        clock_offset_ns: None,
    }
}

/// A run's entry with what the spec says and nothing measured: the base [`reduce`] fills in,
/// and the whole entry of a run whose set-up failed.
fn unmeasured(spec: &RunSpec, failures: Vec<String>) -> RunResult {
    RunResult {
        name: spec.name(),
        transport: spec.transport.name().to_owned(),
        repetition: 0,
        tags: spec.tags.clone(),
        offered_rate: match spec.rate {
            Rate::PerSec(r) => Some(r),
            Rate::Max => None,
        },
        subscribers: spec.subscribers,
        payload_bytes: spec.payload_bytes,
        measured_secs: 0.0,
        published: 0,
        delivered: 0,
        lost: 0,
        duplicated: 0,
        reordered: 0,
        saturated: false,
        saturation_reason: None,
        valid: true,
        invalid_reason: None,
        generator_lag_ns: Percentiles::default(),
        status: RunStatus::from_failures(&failures),
        failures,
        throughput: Throughput::default(),
        latency_ns: Percentiles::default(),
        latency_from_send_ns: Percentiles::default(),
        schedule_lag_ns: Percentiles::default(),
        latency_spectrum: Vec::new(),
        wire: Wire::default(),
        messages_per_delivery_unit: DistributionSummary::default(),
        empty_delivery_units: 0,
        counters: BTreeMap::new(),
        distributions: BTreeMap::new(),
        timeseries: Vec::new(),
        files: RunFiles::default(),
        faults: Vec::new(),
        idle_cost: IdleCost::default(),
        resources: Default::default(),
        browser: None,
        setup_secs: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_lag_invalidates_only_when_it_can_distort_latency() {
        // 6 ms late against a 200 µs median: a third of the figures could be the harness's.
        assert!(generator_distorts(6_000_000, 200_000));
        // 6 ms late against a 300 ms median (10,000 subscribers): 2%, no distortion.
        assert!(!generator_distorts(6_000_000, 300_000_000));
        // Under 5 ms is never a distortion; no latency samples at all still judges the lag.
        assert!(!generator_distorts(4_000_000, 0));
        assert!(generator_distorts(6_000_000, 0));
    }
}
