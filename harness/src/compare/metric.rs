//! How each [`Metric`] is read from one run (repetition) of a `summary.json`: the one place
//! both the unpaired comparison and the paired gate take their figures from. What the metrics
//! are, and their thresholds, is [`crate::metric`].

use crate::metric::Metric;
use crate::results::RunResult;

/// The metric's value in one run; `None` when it was not measured (CPU of a side whose server
/// ran in-process or remote without metrics).
pub fn value(metric: Metric, run: &RunResult) -> Option<f64> {
    match metric {
        Metric::Throughput => Some(run.latency.throughput.msgs_per_sec),
        Metric::P50 => Some(run.latency.latency_ns.p50 as f64),
        Metric::P99 => Some(run.latency.latency_ns.p99 as f64),
        Metric::P999 => Some(run.latency.latency_ns.p999 as f64),
        Metric::OverheadBytes => Some(run.traffic.wire.overhead_bytes_per_msg),
        Metric::Lost => Some(run.delivery.lost as f64),
        Metric::ServerCpu => run.cost.resources.server.cpu_ns_per_delivered,
        Metric::LoadCpu => run.cost.resources.load.cpu_ns_per_delivered,
    }
}
