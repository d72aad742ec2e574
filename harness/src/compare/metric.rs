//! The metrics a comparison gates on, which way is better for each, how noisy each is, and the
//! thresholds (minimum effects) that turn a change into a verdict.
//!
//! Two families: *noisy* metrics (throughput and latency percentiles) move from run to run on a
//! shared machine, so their verdict needs the spread of repetitions; *deterministic* metrics
//! (wire overhead per message, lost messages) are fixed by the protocol and the audit, so a tight
//! absolute threshold is right and one byte of extra framing is a real change.

use std::fmt;
use std::str::FromStr;

use crate::charts::format::trim_float;
use crate::results::RunResult;

use super::CompareError;

/// A metric compared between baseline and candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Delivered messages per second.
    Throughput,
    /// Median end-to-end latency from the intended send time, ns.
    P50,
    /// 99th percentile latency from the intended send time, ns.
    P99,
    /// 99.9th percentile latency from the intended send time, ns.
    P999,
    /// Steady-state non-payload bytes per delivered message (both hops).
    OverheadBytes,
    /// Messages some subscriber never received.
    Lost,
}

/// Which direction of change is an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Lower values are better (latency, bytes, losses).
    SmallerIsBetter,
    /// Higher values are better (throughput).
    BiggerIsBetter,
}

/// How a metric behaves between repetitions of the same run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Varies with scheduling noise: the verdict uses the spread of repetitions.
    Noisy,
    /// Fixed by the protocol or the audit: compared exactly, against a tight threshold.
    Deterministic,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 6] = [
        Metric::Throughput,
        Metric::P50,
        Metric::P99,
        Metric::P999,
        Metric::OverheadBytes,
        Metric::Lost,
    ];

    /// Short key used on the command line (`--threshold p99=15%`) and in exports.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput",
            Metric::P50 => "p50",
            Metric::P99 => "p99",
            Metric::P999 => "p99.9",
            Metric::OverheadBytes => "overhead",
            Metric::Lost => "lost",
        }
    }

    /// Human label for reports.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput",
            Metric::P50 => "p50 latency",
            Metric::P99 => "p99 latency",
            Metric::P999 => "p99.9 latency",
            Metric::OverheadBytes => "overhead bytes/msg",
            Metric::Lost => "lost messages",
        }
    }

    /// Unit of [`Metric::value`].
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Throughput => "msg/s",
            Metric::P50 | Metric::P99 | Metric::P999 => "ns",
            Metric::OverheadBytes => "bytes/msg",
            Metric::Lost => "messages",
        }
    }

    /// Which way is better.
    pub fn direction(self) -> Direction {
        match self {
            Metric::Throughput => Direction::BiggerIsBetter,
            _ => Direction::SmallerIsBetter,
        }
    }

    /// Noisy or deterministic.
    pub fn kind(self) -> Kind {
        match self {
            Metric::OverheadBytes | Metric::Lost => Kind::Deterministic,
            _ => Kind::Noisy,
        }
    }

    /// The metric's value in one repetition of a run.
    pub fn value(self, run: &RunResult) -> f64 {
        match self {
            Metric::Throughput => run.latency.throughput.msgs_per_sec,
            Metric::P50 => run.latency.latency_ns.p50 as f64,
            Metric::P99 => run.latency.latency_ns.p99 as f64,
            Metric::P999 => run.latency.latency_ns.p999 as f64,
            Metric::OverheadBytes => run.traffic.wire.overhead_bytes_per_msg,
            Metric::Lost => run.delivery.lost as f64,
        }
    }

    /// The minimum effect that counts as a change when nothing else is configured.
    ///
    /// Latency 10% (p99.9 15%: it rests on a tenth of the samples p99 does), throughput 5%
    /// (open-loop throughput tracks the offered rate, so it moves less), overhead half a byte
    /// (any whole extra byte of framing), lost: any increase.
    pub fn default_threshold(self) -> Threshold {
        match self {
            Metric::Throughput => Threshold::Relative(0.05),
            Metric::P50 | Metric::P99 => Threshold::Relative(0.10),
            Metric::P999 => Threshold::Relative(0.15),
            Metric::OverheadBytes => Threshold::Absolute(0.5),
            Metric::Lost => Threshold::Absolute(0.0),
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl FromStr for Metric {
    type Err = CompareError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = s.trim().to_ascii_lowercase();
        match key.as_str() {
            "throughput" | "msgs_per_sec" => Ok(Metric::Throughput),
            "p50" => Ok(Metric::P50),
            "p99" => Ok(Metric::P99),
            "p99.9" | "p999" => Ok(Metric::P999),
            "overhead" | "overhead_bytes_per_msg" => Ok(Metric::OverheadBytes),
            "lost" => Ok(Metric::Lost),
            _ => Err(CompareError::Threshold(format!(
                "unknown metric {s:?}; allowed: throughput, p50, p99, p99.9, overhead, lost"
            ))),
        }
    }
}

/// The minimum change that counts, as a fraction of the baseline or in the metric's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// Fraction of the baseline value (0.1 = 10%).
    Relative(f64),
    /// Absolute amount in the metric's unit.
    Absolute(f64),
}

impl Threshold {
    /// Whether moving from `base` to `cand` is a bigger change than this threshold (strictly).
    pub fn exceeded(self, base: f64, cand: f64) -> bool {
        let delta = (cand - base).abs();
        match self {
            Threshold::Absolute(a) => delta > a,
            // A zero baseline makes any non-zero candidate an infinite relative change.
            Threshold::Relative(r) if base == 0.0 => delta > 0.0 && r.is_finite(),
            Threshold::Relative(r) => delta / base.abs() > r,
        }
    }

    /// The larger of two thresholds of the same kind; a relative and an absolute threshold
    /// cannot be ordered, so `self` wins then.
    pub fn at_least(self, floor: f64) -> Threshold {
        match self {
            Threshold::Relative(r) => Threshold::Relative(r.max(floor)),
            absolute => absolute,
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Relative(r) => write!(f, "{}%", trim_float(r * 100.0)),
            Threshold::Absolute(a) => write!(f, "{}", trim_float(*a)),
        }
    }
}

/// Parse `15%` (relative) or `0.5` (absolute, in the metric's unit).
pub fn parse_threshold(s: &str) -> Result<Threshold, CompareError> {
    let s = s.trim();
    let bad = || {
        CompareError::Threshold(format!(
            "threshold {s:?} is not a non-negative number or percentage (e.g. 15% or 0.5)"
        ))
    };
    let (number, relative) = match s.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (s, false),
    };
    let v: f64 = number.parse().map_err(|_| bad())?;
    if !v.is_finite() || v < 0.0 {
        return Err(bad());
    }
    Ok(if relative {
        Threshold::Relative(v / 100.0)
    } else {
        Threshold::Absolute(v)
    })
}

/// A per-metric threshold given on the command line as `METRIC=VALUE` (`p99=15%`,
/// `overhead=1`). Implements `FromStr` so clap can parse it directly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdOverride {
    /// The metric.
    pub metric: Metric,
    /// Its threshold.
    pub threshold: Threshold,
}

impl FromStr for ThresholdOverride {
    type Err = CompareError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (metric, value) = s.split_once('=').ok_or_else(|| {
            CompareError::Threshold(format!(
                "{s:?} is not METRIC=VALUE (e.g. p99=15% or overhead=1)"
            ))
        })?;
        Ok(ThresholdOverride {
            metric: metric.parse()?,
            threshold: parse_threshold(value)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_overrides() {
        let o: ThresholdOverride = "p99=15%".parse().unwrap();
        assert_eq!(o.metric, Metric::P99);
        assert_eq!(o.threshold, Threshold::Relative(0.15));
        let o: ThresholdOverride = "overhead=1".parse().unwrap();
        assert_eq!(o.threshold, Threshold::Absolute(1.0));
        let o: ThresholdOverride = "P99.9 = 20 %".parse().unwrap();
        assert_eq!(o.metric, Metric::P999);
        assert!("p98=1%".parse::<ThresholdOverride>().is_err());
        assert!("p99=-1%".parse::<ThresholdOverride>().is_err());
        assert!("p99".parse::<ThresholdOverride>().is_err());
        assert!("p99=NaN".parse::<ThresholdOverride>().is_err());
    }

    #[test]
    fn thresholds_are_strict() {
        assert!(!Threshold::Relative(0.1).exceeded(100.0, 110.0));
        assert!(Threshold::Relative(0.1).exceeded(100.0, 110.5));
        assert!(Threshold::Absolute(0.5).exceeded(10.0, 11.0));
        assert!(!Threshold::Absolute(0.0).exceeded(3.0, 3.0));
        assert!(Threshold::Absolute(0.0).exceeded(0.0, 1.0));
        assert!(Threshold::Relative(0.1).exceeded(0.0, 1.0));
        assert!(!Threshold::Relative(0.1).exceeded(0.0, 0.0));
    }

    #[test]
    fn formats() {
        assert_eq!(Threshold::Relative(0.15).to_string(), "15%");
        assert_eq!(Threshold::Absolute(0.5).to_string(), "0.5");
    }
}
