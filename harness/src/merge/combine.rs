//! One merged `runs[]` entry from the same run of every shard. Counts, bytes and the audit add
//! (the shards' publisher-subscriber pairs are disjoint, so the sums are the per-pair audit of the
//! whole); latency comes from the exactly added histograms. Figures whose histograms no shard
//! persisted (lag, latency from actual send, transport distributions) become bounds: count and
//! mean exact, percentiles and max the worst shard's (the merged percentile cannot exceed it),
//! min the best's; their names are recorded in `merge.bounds`.

use std::collections::{BTreeMap, BTreeSet};

use hdrhistogram::Histogram;
use transport_core::counters::DistributionSummary;

use crate::results::consumers::ConsumerResult;
use crate::results::cost::{Cost, IdleCost};
use crate::results::faults::FaultResult;
use crate::results::latency::{
    IntervalPoint, Latency, Percentiles, Throughput, spectrum, timeseries,
};
use crate::results::resources::{Occupancy, OccupancyPeaks};
use crate::results::run::{Delivery, LoadCheck, RunFiles, RunResult};
use crate::results::wire::{Traffic, Wire, WireCounts};

/// Merges one run over its shards (`runs[i]` is shard `i`'s), given the exact sum of their
/// latency histograms and their aligned per-second histograms, part by part. Adds to `bounds`
/// the fields that are bounds rather than exact.
pub fn run(
    runs: &[&RunResult],
    latency: &Histogram<u64>,
    seconds: &[Histogram<u64>],
    bounds: &mut BTreeSet<String>,
) -> RunResult {
    let first = runs[0];
    let failed = runs.iter().find(|r| !r.status.is_ok()).copied();
    let verdicts: Vec<_> = runs
        .iter()
        .map(|r| (r.limited_by, r.limits.as_ref()))
        .collect();
    let (limited_by, limits) = crate::results::limits::merged(&verdicts);
    RunResult {
        offered_rate: runs.iter().map(|r| r.offered_rate).sum(),
        subscribers: runs.iter().map(|r| r.subscribers).sum(),
        delivery: delivery(runs),
        load: load_check(runs, bounds),
        status: failed.unwrap_or(first).status,
        failures: runs
            .iter()
            .enumerate()
            .flat_map(|(i, r)| {
                r.failures
                    .map_messages(|m| format!("shard {i}: {m}"))
                    .into_iter()
            })
            .collect(),
        latency: self::latency(runs, latency, bounds),
        traffic: traffic(runs, bounds),
        timeseries: timeseries(seconds),
        files: RunFiles::default(),
        faults: faults(runs),
        consumers: consumers(runs, bounds),
        cost: Cost {
            idle_cost: idle_cost(runs),
            ..first.cost.clone()
        },
        limited_by,
        limits,
        ..first.clone()
    }
}

/// The shards' pairs are disjoint, so the audit's counts add; the window is the longest.
fn delivery(runs: &[&RunResult]) -> Delivery {
    let sum = |f: fn(&Delivery) -> u64| runs.iter().map(|r| f(&r.delivery)).sum::<u64>();
    Delivery {
        measured_secs: runs
            .iter()
            .map(|r| r.delivery.measured_secs)
            .fold(0.0, f64::max),
        published: sum(|d| d.published),
        delivered: sum(|d| d.delivered),
        lost: sum(|d| d.lost),
        duplicated: sum(|d| d.duplicated),
        reordered: sum(|d| d.reordered),
    }
}

/// Invalid or saturated if any shard was, with each shard's reason tagged by its index.
fn load_check(runs: &[&RunResult], bounds: &mut BTreeSet<String>) -> LoadCheck {
    let tagged = |f: fn(&LoadCheck) -> Option<&String>| -> Option<String> {
        let v: Vec<String> = runs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| f(&r.load).map(|s| format!("shard {i}: {s}")))
            .collect();
        (!v.is_empty()).then(|| v.join("; "))
    };
    LoadCheck {
        valid: runs.iter().all(|r| r.load.valid),
        invalid_reason: tagged(|l| l.invalid_reason.as_ref()),
        generator_lag_ns: bound(runs, bounds, "generator_lag_ns", |r| {
            r.load.generator_lag_ns
        }),
        saturated: runs.iter().any(|r| r.load.saturated),
        saturation_reason: tagged(|l| l.saturation_reason.as_ref()),
    }
}

/// Latency from the exactly added histogram; throughput adds; the rest are bounds.
fn latency(
    runs: &[&RunResult],
    latency: &Histogram<u64>,
    bounds: &mut BTreeSet<String>,
) -> Latency {
    let rate = |f: fn(&Throughput) -> f64| runs.iter().map(|r| f(&r.latency.throughput)).sum();
    Latency {
        throughput: Throughput {
            msgs_per_sec: rate(|t| t.msgs_per_sec),
            payload_bytes_per_sec: rate(|t| t.payload_bytes_per_sec),
            published_per_sec: rate(|t| t.published_per_sec),
        },
        latency_ns: Percentiles::of(latency),
        latency_from_send_ns: bound(runs, bounds, "latency_from_send_ns", |r| {
            r.latency.latency_from_send_ns
        }),
        schedule_lag_ns: bound(runs, bounds, "schedule_lag_ns", |r| {
            r.latency.schedule_lag_ns
        }),
        latency_spectrum: spectrum(latency),
    }
}

/// The bound of a percentile summary no shard persisted a histogram for, recorded in
/// `bounds` when more than one shard contributed to it.
fn bound(
    runs: &[&RunResult],
    bounds: &mut BTreeSet<String>,
    name: &str,
    f: fn(&RunResult) -> Percentiles,
) -> Percentiles {
    let ps: Vec<Percentiles> = runs.iter().map(|r| f(r)).collect();
    if ps.iter().filter(|p| p.count > 0).count() > 1 {
        bounds.insert(format!("runs[].{name}"));
    }
    percentile_bound(&ps)
}

/// Bytes and counters add; delivery-unit distributions become bounds.
fn traffic(runs: &[&RunResult], bounds: &mut BTreeSet<String>) -> Traffic {
    let units: Vec<DistributionSummary> = runs
        .iter()
        .map(|r| r.traffic.messages_per_delivery_unit)
        .collect();
    if units.iter().filter(|d| d.count > 0).count() > 1 {
        bounds.insert("runs[].messages_per_delivery_unit".into());
    }
    Traffic {
        wire: wire(runs),
        messages_per_delivery_unit: distribution_bound(&units),
        empty_delivery_units: runs.iter().map(|r| r.traffic.empty_delivery_units).sum(),
        counters: counters(runs),
        distributions: distributions(runs, bounds),
    }
}

/// Adds the shards' per-second CPU, memory and server occupancy to the merged timeseries, shard
/// `k`'s second `i` at merged second `i + shifts[k]`. Load generators are one process per
/// shard, so theirs add up; servers' figures (occupancy included: each server's queues, logs
/// and sockets are its own) too when each shard ran its own (`own_servers`), otherwise they
/// stay null: every shard read the same server. A second some shard did not sample stays null.
pub fn second_resources(
    points: &mut Vec<IntervalPoint>,
    runs: &[&RunResult],
    shifts: &[usize],
    own_servers: bool,
) {
    let len = runs
        .iter()
        .zip(shifts)
        .map(|(r, s)| r.timeseries.len() + s)
        .max()
        .unwrap_or(0);
    while points.len() < len {
        points.push(IntervalPoint {
            second: points.len() as u32,
            ..IntervalPoint::default()
        });
    }
    for (i, p) in points.iter_mut().enumerate() {
        let at = |k: usize| {
            let second = i.checked_sub(shifts[k])?;
            runs[k].timeseries.get(second)
        };
        let total = |f: fn(&IntervalPoint) -> Option<f64>| -> Option<f64> {
            (0..runs.len()).map(|k| at(k).and_then(f)).sum()
        };
        p.load_cpu_s = total(|q| q.load_cpu_s);
        p.load_rss_bytes = total(|q| q.load_rss_bytes.map(|b| b as f64)).map(|b| b as u64);
        if own_servers {
            p.server_cpu_s = total(|q| q.server_cpu_s);
            p.server_rss_bytes = total(|q| q.server_rss_bytes.map(|b| b as f64)).map(|b| b as u64);
            let count = |f: fn(&Occupancy) -> Option<u64>| -> Option<u64> {
                (0..runs.len())
                    .map(|k| at(k).and_then(|q| f(&q.occupancy())))
                    .sum()
            };
            p.set_occupancy(&Occupancy {
                send_queue_bytes: count(|o| o.send_queue_bytes),
                queued_messages: count(|o| o.queued_messages),
                queued_bytes: count(|o| o.queued_bytes),
                retained_messages: count(|o| o.retained_messages),
                retained_bytes: count(|o| o.retained_bytes),
            });
        }
    }
}

/// The merged run's peak occupancy when every shard ran its own server: the sum of the
/// shards' peaks, an upper bound (the servers need not have peaked at the same instant), which
/// `bounds` records. Null where some shard's is.
pub fn peak_sum(runs: &[&RunResult], bounds: &mut BTreeSet<String>) -> OccupancyPeaks {
    let sum = |f: fn(&OccupancyPeaks) -> Option<u64>| -> Option<u64> {
        runs.iter().map(|r| f(&r.cost.resources.server.peaks)).sum()
    };
    let peaks = OccupancyPeaks {
        send_queue_bytes_peak: sum(|p| p.send_queue_bytes_peak),
        queued_messages_peak: sum(|p| p.queued_messages_peak),
        queued_bytes_peak: sum(|p| p.queued_bytes_peak),
        retained_messages_peak: sum(|p| p.retained_messages_peak),
        retained_bytes_peak: sum(|p| p.retained_bytes_peak),
    };
    if runs.len() > 1 && peaks != OccupancyPeaks::default() {
        bounds.insert("runs[].resources.server.*_peak".into());
    }
    peaks
}

/// Count-weighted mean of `(count, mean)` pairs: exact, since each mean is its samples' sum
/// over their count.
fn weighted_mean(parts: impl Iterator<Item = (u64, f64)>) -> f64 {
    let (n, total) = parts.fold((0u64, 0.0), |(n, t), (c, m)| (n + c, t + c as f64 * m));
    if n == 0 { 0.0 } else { total / n as f64 }
}

/// Upper bound of the merged percentiles (each the worst shard's); count, mean and min exact.
pub fn percentile_bound(ps: &[Percentiles]) -> Percentiles {
    let seen: Vec<&Percentiles> = ps.iter().filter(|p| p.count > 0).collect();
    let top = |f: fn(&Percentiles) -> u64| seen.iter().map(|p| f(p)).max().unwrap_or(0);
    Percentiles {
        count: seen.iter().map(|p| p.count).sum(),
        p50: top(|p| p.p50),
        p90: top(|p| p.p90),
        p99: top(|p| p.p99),
        p999: top(|p| p.p999),
        max: top(|p| p.max),
        mean: weighted_mean(seen.iter().map(|p| (p.count, p.mean))),
        min: seen.iter().map(|p| p.min).min().unwrap_or(0),
    }
}

fn distribution_bound(ds: &[DistributionSummary]) -> DistributionSummary {
    let seen: Vec<&DistributionSummary> = ds.iter().filter(|d| d.count > 0).collect();
    DistributionSummary {
        count: seen.iter().map(|d| d.count).sum(),
        mean: weighted_mean(seen.iter().map(|d| (d.count, d.mean))),
        p50: seen.iter().map(|d| d.p50).max().unwrap_or(0),
        p99: seen.iter().map(|d| d.p99).max().unwrap_or(0),
        max: seen.iter().map(|d| d.max).max().unwrap_or(0),
    }
}

fn distributions(
    runs: &[&RunResult],
    bounds: &mut BTreeSet<String>,
) -> BTreeMap<String, DistributionSummary> {
    let names: BTreeSet<&String> = runs
        .iter()
        .flat_map(|r| r.traffic.distributions.keys())
        .collect();
    names
        .into_iter()
        .map(|k| {
            let ds: Vec<DistributionSummary> = runs
                .iter()
                .filter_map(|r| r.traffic.distributions.get(k).copied())
                .collect();
            if ds.len() > 1 {
                bounds.insert(format!("runs[].distributions.{k}"));
            }
            (k.clone(), distribution_bound(&ds))
        })
        .collect()
}

fn counters(runs: &[&RunResult]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (k, v) in runs.iter().flat_map(|r| r.traffic.counters.iter()) {
        *out.entry(k.clone()).or_insert(0) += v;
    }
    out
}

fn wire(runs: &[&RunResult]) -> Wire {
    runs.iter()
        .map(|r| WireCounts {
            publisher: r.traffic.wire.publisher,
            subscriber: r.traffic.wire.subscriber,
            server: r.traffic.wire.server,
            server_mirrored: r.traffic.wire.server_mirrored,
            payload_bytes: r.payload_bytes,
            published: r.delivery.published,
            delivered: r.delivery.delivered,
            plaintext: r
                .traffic
                .wire
                .plaintext
                .map(|p| (p.publisher, p.subscriber)),
        })
        .reduce(WireCounts::combined)
        .unwrap_or_default()
        .wire()
}

/// Faults fire on every shard at the same scheduled time: counts add, recovery is the slowest.
fn faults(runs: &[&RunResult]) -> Vec<FaultResult> {
    let mut out = runs[0].faults.clone();
    for r in &runs[1..] {
        for (m, f) in out.iter_mut().zip(&r.faults) {
            m.fired |= f.fired;
            m.recovery_ns = m.recovery_ns.max(f.recovery_ns);
            m.unrecovered_subscribers += f.unrecovered_subscribers;
            m.reconnects += f.reconnects;
            m.lost += f.lost;
            m.duplicated += f.duplicated;
            m.error = match (m.error.take(), &f.error) {
                (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                (a, b) => a.or(b.clone()),
            };
        }
    }
    out
}

/// Consumer classes add class by class (every shard splits its own subscribers by the same
/// shares): counts add, lags and catch-up take the worst shard's, latency becomes a bound (no
/// shard persists per-class histograms). Shard-local subscriber ids are dropped.
fn consumers(runs: &[&RunResult], bounds: &mut BTreeSet<String>) -> Vec<ConsumerResult> {
    let mut out = runs[0].consumers.clone();
    for (i, m) in out.iter_mut().enumerate() {
        let same: Vec<&ConsumerResult> = runs.iter().filter_map(|r| r.consumers.get(i)).collect();
        m.subscriber_ids.clear();
        m.subscribers = same.iter().map(|c| c.subscribers).sum();
        m.delivered = same.iter().map(|c| c.delivered).sum();
        m.lost = same.iter().map(|c| c.lost).sum();
        m.duplicated = same.iter().map(|c| c.duplicated).sum();
        m.max_lag_messages = same.iter().map(|c| c.max_lag_messages).max().flatten();
        m.max_lag_ns = same.iter().map(|c| c.max_lag_ns).max().flatten();
        m.catch_up_ns = same
            .iter()
            .map(|c| c.catch_up_ns)
            .collect::<Option<Vec<u64>>>()
            .and_then(|v| v.into_iter().max());
        m.caught_up = same.iter().map(|c| c.caught_up).sum();
        let latencies: Vec<Percentiles> = same.iter().filter_map(|c| c.latency_ns).collect();
        if latencies.len() > 1 {
            bounds.insert("runs[].consumers[].latency_ns".into());
        }
        m.latency_ns = (!latencies.is_empty()).then(|| percentile_bound(&latencies));
    }
    let total: u32 = out.iter().map(|c| c.subscribers).sum();
    if let Some(full) = out.first_mut().filter(|c| c.behaviour == "full") {
        full.share = f64::from(full.subscribers) / f64::from(total.max(1));
    }
    out
}

/// Per subscriber per minute: the shards' figures weighted by their subscribers.
fn idle_cost(runs: &[&RunResult]) -> IdleCost {
    let weighted = |f: fn(&IdleCost) -> f64| {
        weighted_mean(
            runs.iter()
                .map(|r| (u64::from(r.subscribers), f(&r.cost.idle_cost))),
        )
    };
    let mut requests = BTreeMap::new();
    for (k, v) in runs.iter().flat_map(|r| r.cost.idle_cost.requests.iter()) {
        *requests.entry(k.clone()).or_insert(0) += v;
    }
    IdleCost {
        bytes_per_subscriber_per_min: weighted(|c| c.bytes_per_subscriber_per_min),
        requests_per_subscriber_per_min: weighted(|c| c.requests_per_subscriber_per_min),
        requests,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::TransportKind;
    use crate::results::histogram::latency_histogram;
    use crate::results::run::{RunIdentity, RunStatus};
    use crate::results::{FailureKind, Failures};

    fn shard(published: u64, failure: Option<(FailureKind, &str)>) -> RunResult {
        let mut failures = Failures::default();
        if let Some((kind, message)) = failure {
            failures.add(kind, message);
        }
        let mut r = RunResult::unmeasured(
            RunIdentity {
                name: "transport=websocket".into(),
                transport: TransportKind::WebSocket,
                tags: BTreeMap::from([("transport".into(), "websocket".into())]),
                offered_rate: Some(100.0),
                subscribers: 2,
                payload_bytes: 100,
            },
            failures,
        );
        r.delivery.published = published;
        r.delivery.delivered = published * 2;
        r
    }

    /// Counts add part by part; a failure keeps its kind and says which shard it came from.
    #[test]
    fn parts_add_and_failures_keep_their_kinds() {
        let a = shard(10, Some((FailureKind::Lost, "3 messages lost")));
        let b = shard(20, Some((FailureKind::Setup, "server did not start")));
        let c = shard(5, None);
        let merged = run(
            &[&a, &b, &c],
            &latency_histogram(),
            &[],
            &mut BTreeSet::new(),
        );
        assert_eq!(
            (merged.delivery.published, merged.delivery.delivered),
            (35, 70)
        );
        assert_eq!((merged.subscribers, merged.offered_rate), (6, Some(300.0)));
        assert_eq!(merged.status, RunStatus::Failed);
        let messages: Vec<&str> = merged.failures.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            ["shard 1: server did not start", "shard 0: 3 messages lost"]
        );
        assert_eq!(
            merged.failures.by_kind(),
            BTreeMap::from([(FailureKind::Setup, 1), (FailureKind::Lost, 1)])
        );
    }

    /// Own servers: each second's occupancy and the run's peaks add up (peaks as a bound); a
    /// figure some shard could not read stays null.
    #[test]
    fn occupancy_adds_over_own_servers_and_stays_null_where_unread() {
        let mut a = shard(10, None);
        let mut b = shard(10, None);
        let point = |sendq, queued| {
            let mut p = IntervalPoint::default();
            p.set_occupancy(&Occupancy {
                send_queue_bytes: Some(sendq),
                queued_messages: queued,
                ..Occupancy::default()
            });
            p
        };
        a.timeseries = vec![point(100, Some(3))];
        b.timeseries = vec![point(50, None)];
        a.cost.resources.server.peaks.queued_messages_peak = Some(7);
        b.cost.resources.server.peaks.queued_messages_peak = Some(5);
        let mut merged = Vec::new();
        second_resources(&mut merged, &[&a, &b], &[0, 0], true);
        assert_eq!(merged[0].server_send_queue_bytes, Some(150));
        assert_eq!(
            merged[0].server_queued_messages, None,
            "shard b could not read it"
        );
        let mut bounds = BTreeSet::new();
        let peaks = peak_sum(&[&a, &b], &mut bounds);
        assert_eq!(peaks.queued_messages_peak, Some(12));
        assert_eq!(peaks.retained_bytes_peak, None);
        assert!(bounds.contains("runs[].resources.server.*_peak"));
        let mut shared = Vec::new();
        second_resources(&mut shared, &[&a, &b], &[0, 0], false);
        assert_eq!(
            shared[0].server_send_queue_bytes, None,
            "one server read twice"
        );
    }
}
