//! The vocabulary of regression gates: which metrics a comparison judges, which way is better
//! for each, how noisy each is, and the thresholds (minimum effects) written as `p99=15%` or
//! `overhead=1`.
//!
//! Scenario files name thresholds in `[compare]` and `compare` applies them, so the names and
//! the grammar live here, below both: `scenario` checks a threshold while it loads without
//! depending on the comparison engine, and the engine reads a metric's value from a run in
//! `compare::metric`.
//!
//! Two families: *noisy* metrics (throughput, latency percentiles, CPU per message) move from
//! run to run on a shared machine, so their verdict needs the spread of repetitions or pairs;
//! *deterministic* metrics (wire overhead per message, lost messages) are fixed by the protocol
//! and the audit, so a tight absolute threshold is right and one byte of extra framing is a
//! real change.

use std::fmt;
use std::str::FromStr;

use crate::text::trim_float;

/// A threshold or metric name that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad threshold: {0}")]
pub struct ThresholdError(pub String);

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
    /// Server CPU (user + system) in the measured window per delivered message, ns.
    ServerCpu,
    /// Load generator CPU in the measured window per delivered message, ns.
    LoadCpu,
}

/// Which direction of change is an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Lower values are better (latency, bytes, losses, CPU).
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
    /// What the unpaired comparison (a committed baseline against a candidate) judges, in
    /// report order. CPU is left out: on another day's machine it says more about the machine.
    pub const UNPAIRED: [Metric; 6] = [
        Metric::Throughput,
        Metric::P50,
        Metric::P99,
        Metric::P999,
        Metric::OverheadBytes,
        Metric::Lost,
    ];

    /// What the paired gate (A and B back to back on one machine) judges, in report order: the
    /// figures that stay still once the pair shares the machine's state. Throughput is left out
    /// (a closed-loop figure moves with the machine) and p99.9 rests on too few samples.
    pub const PAIRED: [Metric; 6] = [
        Metric::OverheadBytes,
        Metric::Lost,
        Metric::ServerCpu,
        Metric::LoadCpu,
        Metric::P50,
        Metric::P99,
    ];

    /// Short key used on the command line (`--threshold p99=15%`), in scenario files and in
    /// exports.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput",
            Metric::P50 => "p50",
            Metric::P99 => "p99",
            Metric::P999 => "p99.9",
            Metric::OverheadBytes => "overhead",
            Metric::Lost => "lost",
            Metric::ServerCpu => "server-cpu",
            Metric::LoadCpu => "load-cpu",
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
            Metric::ServerCpu => "server CPU per message",
            Metric::LoadCpu => "load CPU per message",
        }
    }

    /// Unit of the metric's value.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Throughput => "msg/s",
            Metric::P50 | Metric::P99 | Metric::P999 => "ns",
            Metric::OverheadBytes => "bytes/msg",
            Metric::Lost => "messages",
            Metric::ServerCpu | Metric::LoadCpu => "ns/msg",
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

    /// Whether this is a latency percentile (the paired gate gates it only under pinned
    /// placement).
    pub fn is_latency(self) -> bool {
        matches!(self, Metric::P50 | Metric::P99 | Metric::P999)
    }

    /// The unpaired comparison's minimum effect when nothing else is configured.
    ///
    /// Latency 10% (p99.9 15%: it rests on a tenth of the samples p99 does), throughput 5%
    /// (open-loop throughput tracks the offered rate, so it moves less), overhead half a byte
    /// (any whole extra byte of framing), lost: any increase, CPU 10%.
    pub fn default_threshold(self) -> Threshold {
        match self {
            Metric::Throughput => Threshold::Relative(0.05),
            Metric::P50 | Metric::P99 | Metric::ServerCpu | Metric::LoadCpu => {
                Threshold::Relative(0.10)
            }
            Metric::P999 => Threshold::Relative(0.15),
            Metric::OverheadBytes => Threshold::Absolute(0.5),
            Metric::Lost => Threshold::Absolute(0.0),
        }
    }

    /// The paired gate's default minimum relative effect of its ratio rule, from the noise
    /// measured on a shared 2-vCPU VM with other builds running (`scripts/gate-calibration.sh`;
    /// figures in `results/baseline/README.md`). Overhead: for transports whose framing varies
    /// with batching; steady framing is judged exactly (half a byte). Lost: any increase.
    pub fn default_gate_threshold(self) -> f64 {
        match self {
            Metric::OverheadBytes | Metric::ServerCpu | Metric::LoadCpu => 0.10,
            Metric::Lost => 0.0,
            Metric::P50 => 0.30,
            Metric::P99 | Metric::P999 => 1.00,
            Metric::Throughput => 0.05,
        }
    }

    /// The metric of `set` named `s` (case-insensitive, with the long aliases of the summary's
    /// field names); the error lists the set's keys, what `what` may name.
    pub fn parse_in(s: &str, set: &[Metric], what: &str) -> Result<Metric, ThresholdError> {
        let key = s.trim().to_ascii_lowercase();
        let key = match key.as_str() {
            "msgs_per_sec" => "throughput",
            "p999" => "p99.9",
            "overhead_bytes_per_msg" => "overhead",
            other => other,
        };
        set.iter().copied().find(|m| m.key() == key).ok_or_else(|| {
            let allowed: Vec<&str> = set.iter().map(|m| m.key()).collect();
            ThresholdError(format!(
                "unknown {what} {s:?}; allowed: {}",
                allowed.join(", ")
            ))
        })
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Any metric by its key.
impl FromStr for Metric {
    type Err = ThresholdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Metric::parse_in(s, &ALL, "metric")
    }
}

/// Every metric, for parsing a bare name.
const ALL: [Metric; 8] = [
    Metric::Throughput,
    Metric::P50,
    Metric::P99,
    Metric::P999,
    Metric::OverheadBytes,
    Metric::Lost,
    Metric::ServerCpu,
    Metric::LoadCpu,
];

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
pub fn parse_threshold(s: &str) -> Result<Threshold, ThresholdError> {
    let s = s.trim();
    let bad = || {
        ThresholdError(format!(
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

/// A threshold of the unpaired comparison given as `METRIC=VALUE` (`p99=15%`, `overhead=1`),
/// on the command line or in a scenario's `[compare]`. Implements `FromStr` so clap can parse
/// it directly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdOverride {
    /// The metric, one of [`Metric::UNPAIRED`].
    pub metric: Metric,
    /// Its threshold.
    pub threshold: Threshold,
}

impl FromStr for ThresholdOverride {
    type Err = ThresholdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (metric, value) = assignment(s, "METRIC=VALUE (e.g. p99=15% or overhead=1)")?;
        Ok(ThresholdOverride {
            metric: Metric::parse_in(metric, &Metric::UNPAIRED, "metric")?,
            threshold: parse_threshold(value)?,
        })
    }
}

/// `s` split at its `=`, or an error saying it is not of `form`.
fn assignment<'a>(s: &'a str, form: &str) -> Result<(&'a str, &'a str), ThresholdError> {
    s.split_once('=')
        .ok_or_else(|| ThresholdError(format!("{s:?} is not {form}")))
}

/// A threshold of the paired gate given as `METRIC=PERCENT` (`server-cpu=12%`): its ratio rule
/// only takes relative effects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateThreshold {
    /// The metric, one of [`Metric::PAIRED`].
    pub metric: Metric,
    /// Minimum relative effect (0.12 = 12%).
    pub relative: f64,
}

impl FromStr for GateThreshold {
    type Err = ThresholdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (metric, value) = assignment(s, "METRIC=PERCENT (e.g. server-cpu=12%)")?;
        let Threshold::Relative(relative) = parse_threshold(value)? else {
            return Err(ThresholdError(format!(
                "{s:?}: a gate threshold is a percentage (e.g. 12%)"
            )));
        };
        Ok(GateThreshold {
            metric: Metric::parse_in(metric, &Metric::PAIRED, "gate metric")?,
            relative,
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
        // The unpaired comparison does not judge CPU, so it does not take a threshold for it.
        assert!("server-cpu=10%".parse::<ThresholdOverride>().is_err());
    }

    #[test]
    fn parses_gate_thresholds() {
        let t: GateThreshold = "server-cpu=12%".parse().unwrap();
        assert_eq!((t.metric, t.relative), (Metric::ServerCpu, 0.12));
        assert!("server-cpu=12".parse::<GateThreshold>().is_err());
        assert!("cpu=12%".parse::<GateThreshold>().is_err());
        assert!("throughput=5%".parse::<GateThreshold>().is_err());
        for m in ALL {
            assert_eq!(m.key().parse::<Metric>().unwrap(), m);
        }
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
