//! Named counters, gauges and distributions a transport registers for its own events (polls,
//! empty polls, frames, fetches, pings, reconnects...) and its occupancy (messages queued for
//! subscribers, messages retained in a log), collected by the harness into `counters`, the
//! per-second timeseries and the peaks in the results. One mechanism for all transports, so
//! reports can show any of them.
//!
//! Registration takes a lock; the returned handles are lock-free (counters, gauges) or take an
//! uncontended lock per record (distributions), so register once and keep the handle.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use hdrhistogram::Histogram;

/// A monotonically increasing event count.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A level that rises and falls (messages waiting in queues, bytes held in a log), with the
/// highest level it ever reached: the peak is kept by every change, so a spike between two
/// samples is not missed.
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<GaugeCell>);

#[derive(Debug, Default)]
struct GaugeCell {
    value: AtomicI64,
    peak: AtomicI64,
}

/// A gauge's level and peak at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GaugeReading {
    /// The level now. Signed so that an accounting slip shows as a negative figure instead of
    /// wrapping to an absurd one.
    pub value: i64,
    /// The highest level since the gauge was registered.
    pub peak: i64,
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Gauge {
    /// Raises the level by `n`.
    pub fn add(&self, n: u64) {
        let now = self.0.value.fetch_add(signed(n), Relaxed) + signed(n);
        self.0.peak.fetch_max(now, Relaxed);
    }

    /// Lowers the level by `n`.
    pub fn sub(&self, n: u64) {
        self.0.value.fetch_sub(signed(n), Relaxed);
    }

    /// Sets the level to `v`.
    pub fn set(&self, v: u64) {
        self.0.value.store(signed(v), Relaxed);
        self.0.peak.fetch_max(signed(v), Relaxed);
    }

    /// The level and the peak now.
    pub fn read(&self) -> GaugeReading {
        GaugeReading {
            value: self.0.value.load(Relaxed),
            peak: self.0.peak.load(Relaxed),
        }
    }
}

/// A distribution of small counts (messages per response, records per fetch, batch bytes).
#[derive(Debug, Clone)]
pub struct Distribution(Arc<Mutex<Histogram<u64>>>);

impl Distribution {
    fn new() -> Self {
        // Auto-resizing, so no value is ever rejected; values here are counts, not times.
        let h = Histogram::new(3).expect("3 significant figures is a valid histogram precision");
        Distribution(Arc::new(Mutex::new(h)))
    }

    /// Records one observation.
    pub fn record(&self, value: u64) {
        let mut h = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // `record` grows the auto-resizing histogram; `saturating_record` would not, and would
        // clamp large values into its initial range.
        if h.record(value).is_err() {
            h.saturating_record(value);
        }
    }

    /// A copy of the histogram so far.
    pub fn snapshot(&self) -> Histogram<u64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Summary of a [`Distribution`] as it appears in results.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DistributionSummary {
    /// Observations.
    pub count: u64,
    /// Mean value.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest value.
    pub max: u64,
}

impl DistributionSummary {
    /// Summarises a histogram.
    pub fn of(h: &Histogram<u64>) -> Self {
        DistributionSummary {
            count: h.len(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}

/// The registry of one run's counters and distributions, shared by all its clients and servers.
#[derive(Debug, Default)]
pub struct Counters {
    counters: Mutex<BTreeMap<String, Counter>>,
    gauges: Mutex<BTreeMap<String, Gauge>>,
    distributions: Mutex<BTreeMap<String, Distribution>>,
}

impl Counters {
    /// A fresh, shareable registry.
    pub fn new() -> Arc<Counters> {
        Arc::new(Counters::default())
    }

    /// The counter called `name`, created at zero on first use.
    pub fn counter(&self, name: &str) -> Counter {
        let mut map = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(name.to_owned()).or_default().clone()
    }

    /// The gauge called `name`, created at zero on first use. A gauge that was never
    /// registered is absent from [`Counters::gauge_values`]: a transport without such a level
    /// reports it unavailable, not zero.
    pub fn gauge(&self, name: &str) -> Gauge {
        let mut map = self.gauges.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(name.to_owned()).or_default().clone()
    }

    /// Level and peak of every gauge.
    pub fn gauge_values(&self) -> BTreeMap<String, GaugeReading> {
        let map = self.gauges.lock().unwrap_or_else(PoisonError::into_inner);
        map.iter().map(|(k, v)| (k.clone(), v.read())).collect()
    }

    /// The distribution called `name`, created empty on first use.
    pub fn distribution(&self, name: &str) -> Distribution {
        let mut map = self
            .distributions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(name.to_owned())
            .or_insert_with(Distribution::new)
            .clone()
    }

    /// Current values of every counter.
    pub fn counter_values(&self) -> BTreeMap<String, u64> {
        let map = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        map.iter().map(|(k, v)| (k.clone(), v.get())).collect()
    }

    /// Copies of every distribution.
    pub fn distributions(&self) -> BTreeMap<String, Histogram<u64>> {
        let map = self
            .distributions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.iter().map(|(k, v)| (k.clone(), v.snapshot())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_share_one_value() {
        let c = Counters::new();
        c.counter("polls").inc();
        c.counter("polls").add(2);
        c.distribution("per_response").record(4);
        c.distribution("batch_bytes").record(16_384);
        assert_eq!(c.counter_values()["polls"], 3);
        assert_eq!(c.distributions()["per_response"].max(), 4);
        let big = c.distributions()["batch_bytes"].max();
        assert!(
            big.abs_diff(16_384) <= 16,
            "large values are kept, not clamped: {big}"
        );
    }

    #[test]
    fn gauges_rise_and_fall_and_keep_their_peak() {
        let c = Counters::new();
        let g = c.gauge("queued");
        g.add(5);
        c.gauge("queued").add(3);
        g.sub(6);
        assert_eq!(
            c.gauge_values()["queued"],
            GaugeReading { value: 2, peak: 8 }
        );
        g.set(1);
        assert_eq!(g.read(), GaugeReading { value: 1, peak: 8 });
        assert!(
            !c.gauge_values().contains_key("retained"),
            "never registered"
        );
    }
}
