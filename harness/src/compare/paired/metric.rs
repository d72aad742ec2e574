//! What the paired gate judges, and the thresholds it judges with.
//!
//! The metrics are the ones that stay still on a shared 2-core machine once A and B run back
//! to back: wire overhead (fixed by the protocol), lost messages (fixed by the audit), and CPU
//! time per delivered message of the server and of the load generator (each process measured
//! on its own, `resources.server` / `resources.load`). Latency percentiles follow the run's
//! placement: they are gated only when the server and the load generator were pinned to
//! disjoint cores, because otherwise the scheduler decides from run to run whether the two
//! ends share a core, and that alone moves p50 by a factor of three.

use std::fmt;
use std::str::FromStr;

use crate::results::RunResult;

use super::super::CompareError;

/// A metric of the paired gate. Smaller is better for every one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GateMetric {
    /// Steady-state non-payload bytes per delivered message, both hops.
    OverheadBytes,
    /// Messages some subscriber never received.
    Lost,
    /// Server CPU (user + system) in the measured window per delivered message, ns.
    ServerCpu,
    /// Load generator CPU in the measured window per delivered message, ns.
    LoadCpu,
    /// Median latency from the intended send time, ns.
    P50,
    /// 99th percentile latency from the intended send time, ns.
    P99,
}

impl GateMetric {
    /// Every gate metric, in report order.
    pub const ALL: [GateMetric; 6] = [
        GateMetric::OverheadBytes,
        GateMetric::Lost,
        GateMetric::ServerCpu,
        GateMetric::LoadCpu,
        GateMetric::P50,
        GateMetric::P99,
    ];

    /// Key on the command line (`--gate-threshold server-cpu=10%`).
    pub fn key(self) -> &'static str {
        match self {
            GateMetric::OverheadBytes => "overhead",
            GateMetric::Lost => "lost",
            GateMetric::ServerCpu => "server-cpu",
            GateMetric::LoadCpu => "load-cpu",
            GateMetric::P50 => "p50",
            GateMetric::P99 => "p99",
        }
    }

    /// Label for reports.
    pub fn label(self) -> &'static str {
        match self {
            GateMetric::OverheadBytes => "overhead per message",
            GateMetric::Lost => "lost messages",
            GateMetric::ServerCpu => "server CPU per message",
            GateMetric::LoadCpu => "load CPU per message",
            GateMetric::P50 => "p50 latency",
            GateMetric::P99 => "p99 latency",
        }
    }

    /// Whether this is a latency percentile (gated only under pinned placement).
    pub fn is_latency(self) -> bool {
        matches!(self, GateMetric::P50 | GateMetric::P99)
    }

    /// The value in one run; `None` when it was not measured (a side without resources).
    pub fn value(self, run: &RunResult) -> Option<f64> {
        match self {
            GateMetric::OverheadBytes => Some(run.traffic.wire.overhead_bytes_per_msg),
            GateMetric::Lost => Some(run.delivery.lost as f64),
            GateMetric::ServerCpu => run.cost.resources.server.cpu_ns_per_delivered,
            GateMetric::LoadCpu => run.cost.resources.load.cpu_ns_per_delivered,
            GateMetric::P50 => Some(run.latency.latency_ns.p50 as f64),
            GateMetric::P99 => Some(run.latency.latency_ns.p99 as f64),
        }
    }

    /// The default minimum relative effect of the ratio rule, from the noise measured on a
    /// shared 2-vCPU VM with other builds running (`scripts/gate-calibration.sh`; figures in
    /// `results/baseline/README.md`). Overhead: for transports whose framing varies with
    /// batching; steady framing is judged exactly (half a byte). Lost: any increase.
    pub fn default_threshold(self) -> f64 {
        match self {
            GateMetric::OverheadBytes => 0.10,
            GateMetric::Lost => 0.0,
            GateMetric::ServerCpu | GateMetric::LoadCpu => 0.10,
            GateMetric::P50 => 0.30,
            GateMetric::P99 => 1.00,
        }
    }
}

impl fmt::Display for GateMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl FromStr for GateMetric {
    type Err = CompareError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = s.trim().to_ascii_lowercase();
        GateMetric::ALL
            .into_iter()
            .find(|m| m.key() == key)
            .ok_or_else(|| {
                CompareError::Threshold(format!(
                    "unknown gate metric {s:?}; allowed: {}",
                    GateMetric::ALL.map(GateMetric::key).join(", ")
                ))
            })
    }
}

/// A gate threshold given as `METRIC=PERCENT` (`server-cpu=12%`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateThreshold {
    /// The metric.
    pub metric: GateMetric,
    /// Minimum relative effect (0.12 = 12%).
    pub relative: f64,
}

impl FromStr for GateThreshold {
    type Err = CompareError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (metric, value) = s.split_once('=').ok_or_else(|| {
            CompareError::Threshold(format!("{s:?} is not METRIC=PERCENT (e.g. server-cpu=12%)"))
        })?;
        let relative = match crate::compare::metric::parse_threshold(value)? {
            crate::compare::Threshold::Relative(r) => r,
            crate::compare::Threshold::Absolute(_) => {
                return Err(CompareError::Threshold(format!(
                    "{s:?}: a gate threshold is a percentage (e.g. 12%)"
                )));
            }
        };
        Ok(GateThreshold {
            metric: metric.parse()?,
            relative,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gate_thresholds() {
        let t: GateThreshold = "server-cpu=12%".parse().unwrap();
        assert_eq!((t.metric, t.relative), (GateMetric::ServerCpu, 0.12));
        assert!("server-cpu=12".parse::<GateThreshold>().is_err());
        assert!("cpu=12%".parse::<GateThreshold>().is_err());
        for m in GateMetric::ALL {
            assert_eq!(m.key().parse::<GateMetric>().unwrap(), m);
        }
    }
}
