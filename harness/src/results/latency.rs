//! The latency part of a run's result: throughput over the measured window, the percentile
//! summaries of its histograms, and the spectrum for "nines" charts; plus the reductions from a
//! histogram to those summaries, shared by the runner (one run) and `merge` (added shards), so
//! that `merge` depends on results, not on the runner.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Quantiles in `latency_spectrum`.
pub const SPECTRUM: &[f64] = &[
    0.0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999, 1.0,
];

/// How fast and how late messages were, over the measured window. Flattened into the run's
/// entry: its keys sit beside the run's own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
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

impl Percentiles {
    /// The summary of a histogram (all zero when it is empty).
    pub fn of(h: &Histogram<u64>) -> Percentiles {
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
}

/// One point of a percentile spectrum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantilePoint {
    /// Quantile in [0, 1].
    pub quantile: f64,
    /// Value at that quantile, ns.
    pub value_ns: u64,
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
    /// Bytes in the kernel send queues of the server's connections at the end of that second
    /// (`SIOCOUTQ`, summed); null when they could not be read.
    #[serde(default)]
    pub server_send_queue_bytes: Option<u64>,
    /// Messages waiting in the server's per-subscriber queues then; null for a transport
    /// without such queues, or a server that could not be read.
    #[serde(default)]
    pub server_queued_messages: Option<u64>,
    /// Bytes of those messages.
    #[serde(default)]
    pub server_queued_bytes: Option<u64>,
    /// Messages the server's shared logs retained then; null for a transport without one.
    #[serde(default)]
    pub server_retained_messages: Option<u64>,
    /// Bytes of those messages.
    #[serde(default)]
    pub server_retained_bytes: Option<u64>,
}

impl IntervalPoint {
    /// Sets the server's occupancy figures of this second.
    pub fn set_occupancy(&mut self, o: &crate::results::resources::Occupancy) {
        self.server_send_queue_bytes = o.send_queue_bytes;
        self.server_queued_messages = o.queued_messages;
        self.server_queued_bytes = o.queued_bytes;
        self.server_retained_messages = o.retained_messages;
        self.server_retained_bytes = o.retained_bytes;
    }

    /// The server's occupancy figures of this second.
    pub fn occupancy(&self) -> crate::results::resources::Occupancy {
        crate::results::resources::Occupancy {
            send_queue_bytes: self.server_send_queue_bytes,
            queued_messages: self.server_queued_messages,
            queued_bytes: self.server_queued_bytes,
            retained_messages: self.server_retained_messages,
            retained_bytes: self.server_retained_bytes,
        }
    }
}

/// One point per second of the measured window, from its per-second histograms.
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
