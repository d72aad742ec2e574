//! Runs grouped by subscriber count: for a scenario that sweeps `subscribers`, what each
//! transport cost the server per connected subscriber and per delivered message at each count.
//! The scale chart and the report's scale section both read these groups, so they describe
//! the same runs.

use std::collections::BTreeMap;

use crate::registry::TransportKind;
use crate::results::{RunResult, Summary};

/// Tags that do not split a sweep: its own dimensions, and repetitions of one cell.
const NON_SWEEP_TAGS: [&str; 3] = ["transport", "subscribers", "repetition"];

/// One transport at one subscriber count (repetitions reduced to medians).
#[derive(Debug, Clone)]
pub struct SweepPoint<'a> {
    /// The transport.
    pub transport: TransportKind,
    /// Connected subscribers.
    pub subscribers: u32,
    /// Server resident bytes per connected subscriber (median over repetitions), if measured.
    pub server_bytes_per_subscriber: Option<f64>,
    /// Server CPU ns per delivered message (median over repetitions), if measured.
    pub server_cpu_ns_per_delivered: Option<f64>,
    /// The repetitions behind the point.
    pub runs: Vec<&'a RunResult>,
}

impl SweepPoint<'_> {
    /// Whether any repetition lost messages, saturated, failed or was invalid: its figures
    /// describe an overloaded or broken run.
    pub fn flagged(&self) -> bool {
        self.runs
            .iter()
            .any(|r| r.delivery.lost > 0 || r.load.saturated || !r.load.valid || !r.status.is_ok())
    }
}

/// Runs that differ only in transport and subscriber count.
#[derive(Debug, Clone)]
pub struct SubscriberSweep<'a> {
    /// The other tags that vary between sweeps (`rate=0.2`), empty when there is one sweep.
    pub label: String,
    /// File-name suffix built from `label`.
    pub slug: String,
    /// Transports in first-seen order.
    pub transports: Vec<TransportKind>,
    /// Points ordered by transport (first seen), then subscriber count.
    pub points: Vec<SweepPoint<'a>>,
}

impl SubscriberSweep<'_> {
    /// The sweep's subscriber counts, ascending.
    pub fn counts(&self) -> Vec<u32> {
        let mut c: Vec<u32> = self.points.iter().map(|p| p.subscribers).collect();
        c.sort_unstable();
        c.dedup();
        c
    }

    /// The points at `subscribers`, in transport order.
    pub fn at(&self, subscribers: u32) -> Vec<&SweepPoint<'_>> {
        self.points
            .iter()
            .filter(|p| p.subscribers == subscribers)
            .collect()
    }
}

/// The sweeps in `summary`: groups with at least two subscriber counts and at least one run
/// whose server was measured. Empty for scenarios that do not sweep subscribers.
pub fn subscriber_sweeps(summary: &Summary) -> Vec<SubscriberSweep<'_>> {
    let mut groups: Vec<(BTreeMap<&str, &str>, Vec<&RunResult>)> = Vec::new();
    for r in &summary.runs {
        let key: BTreeMap<&str, &str> = r
            .tags
            .iter()
            .filter(|(k, _)| !NON_SWEEP_TAGS.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, runs)) => runs.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    let varying = varying_tags(&groups);
    groups
        .into_iter()
        .map(|(key, runs)| sweep(&key, &varying, runs))
        .filter(|s| s.counts().len() > 1 && s.points.iter().any(measured))
        .collect()
}

fn measured(p: &SweepPoint<'_>) -> bool {
    p.server_bytes_per_subscriber.is_some() || p.server_cpu_ns_per_delivered.is_some()
}

/// Tags whose value differs between groups (a tag some groups lack counts as differing): only
/// those name a sweep.
fn varying_tags<'a>(groups: &[(BTreeMap<&'a str, &'a str>, Vec<&RunResult>)]) -> Vec<&'a str> {
    let mut keys: Vec<&str> = groups.iter().flat_map(|(g, _)| g.keys().copied()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.retain(|k| groups.iter().any(|(g, _)| g.get(k) != groups[0].0.get(k)));
    keys
}

fn sweep<'a>(
    key: &BTreeMap<&str, &str>,
    varying: &[&str],
    runs: Vec<&'a RunResult>,
) -> SubscriberSweep<'a> {
    let named: Vec<(&str, &str)> = key
        .iter()
        .filter(|(k, _)| varying.contains(k))
        .map(|(k, v)| (*k, *v))
        .collect();
    let mut transports: Vec<TransportKind> = Vec::new();
    for r in &runs {
        if !transports.contains(&r.transport) {
            transports.push(r.transport);
        }
    }
    let mut points = Vec::new();
    for &t in &transports {
        let mut counts: Vec<u32> = runs
            .iter()
            .filter(|r| r.transport == t)
            .map(|r| r.subscribers)
            .collect();
        counts.sort_unstable();
        counts.dedup();
        for n in counts {
            let reps: Vec<&RunResult> = runs
                .iter()
                .copied()
                .filter(|r| r.transport == t && r.subscribers == n)
                .collect();
            points.push(point(t, n, reps));
        }
    }
    SubscriberSweep {
        label: named
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        slug: named
            .iter()
            .map(|(k, v)| format!("_{k}-{}", super::select::slug_part(v)))
            .collect(),
        transports,
        points,
    }
}

fn point<'a>(
    transport: TransportKind,
    subscribers: u32,
    runs: Vec<&'a RunResult>,
) -> SweepPoint<'a> {
    let server = |f: fn(&RunResult) -> Option<f64>| median(runs.iter().filter_map(|r| f(r)));
    SweepPoint {
        transport,
        subscribers,
        server_bytes_per_subscriber: server(|r| r.cost.resources.server.rss_bytes_per_subscriber),
        server_cpu_ns_per_delivered: server(|r| r.cost.resources.server.cpu_ns_per_delivered),
        runs,
    }
}

/// The median of the values (the mean of the middle two for an even count); `None` if empty.
fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_even_and_none() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), Some(2.0));
        assert_eq!(median([4.0, 1.0].into_iter()), Some(2.5));
        assert_eq!(median(std::iter::empty()), None);
    }
}
