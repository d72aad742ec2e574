//! The flagship comparison: a widely repeated table of what each pattern can do, encoded as
//! data, set beside what the run measured, with a verdict and by how much.
//!
//! The table: "long polling: 100–1K msg/s, medium latency, high header overhead; WebSockets:
//! 1K–10K msg/s, low latency; Kafka-style pull: 100K–1M+ msg/s, medium latency, very high
//! throughput". Its vague words get explicit, stated thresholds ([`LatencyClass::of`],
//! [`OverheadClass::of`]) so a verdict can be checked by hand from the summary.

use std::time::Duration;

use crate::charts::extract::FLOOR;
use crate::charts::format;
use crate::charts::select::{Cell, RateKey, Variant, sustained};

/// How fast a claim says a pattern is, relative to the raw-TCP floor at the same offered rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LatencyClass {
    /// p99 under 3× the floor.
    Low,
    /// p99 from 3× to 30× the floor.
    Medium,
    /// p99 at or above 30× the floor.
    High,
}

impl LatencyClass {
    /// Classifies a p99 by its ratio to the floor's p99; without a floor, by absolute value
    /// (under 1 ms low, under 100 ms medium) — loopback makes absolute classes flattering, so
    /// the ratio is preferred.
    pub fn of(p99_ns: f64, floor_p99_ns: Option<f64>) -> LatencyClass {
        let (value, low, medium) = match floor_p99_ns.filter(|f| *f > 0.0) {
            Some(f) => (p99_ns / f, 3.0, 30.0),
            None => (p99_ns, 1e6, 1e8),
        };
        if value < low {
            LatencyClass::Low
        } else if value < medium {
            LatencyClass::Medium
        } else {
            LatencyClass::High
        }
    }

    fn name(self) -> &'static str {
        match self {
            LatencyClass::Low => "low",
            LatencyClass::Medium => "medium",
            LatencyClass::High => "high",
        }
    }
}

/// Non-payload bytes per delivered message (both hops, steady state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OverheadClass {
    /// Under 32 B per message.
    Low,
    /// 32 B to 200 B.
    Medium,
    /// 200 B or more: a set of HTTP headers per message is in this range.
    High,
}

impl OverheadClass {
    /// Classifies overhead bytes per delivered message.
    pub fn of(bytes_per_msg: f64) -> OverheadClass {
        if bytes_per_msg < 32.0 {
            OverheadClass::Low
        } else if bytes_per_msg < 200.0 {
            OverheadClass::Medium
        } else {
            OverheadClass::High
        }
    }

    fn name(self) -> &'static str {
        match self {
            OverheadClass::Low => "low",
            OverheadClass::Medium => "medium",
            OverheadClass::High => "high",
        }
    }
}

/// One line of the claimed table.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    /// Transport the claim is about.
    pub transport: &'static str,
    /// The pattern as the table names it.
    pub pattern: &'static str,
    /// Lowest claimed msgs/s.
    pub rate_low: f64,
    /// Highest claimed msgs/s.
    pub rate_high: f64,
    /// True for "1M+": reaching beyond the ceiling still holds.
    pub open_ended: bool,
    /// Claimed latency class.
    pub latency: LatencyClass,
    /// Claimed header overhead class, if the table makes one.
    pub overhead: Option<OverheadClass>,
    /// "very high throughput": the highest capacity of the claimed patterns.
    pub highest_throughput: bool,
}

/// The table under test.
pub const CLAIMS: [Claim; 3] = [
    Claim {
        transport: "long-poll",
        pattern: "long polling",
        rate_low: 100.0,
        rate_high: 1_000.0,
        open_ended: false,
        latency: LatencyClass::Medium,
        overhead: Some(OverheadClass::High),
        highest_throughput: false,
    },
    Claim {
        transport: "websocket",
        pattern: "WebSockets",
        rate_low: 1_000.0,
        rate_high: 10_000.0,
        open_ended: false,
        latency: LatencyClass::Low,
        overhead: None,
        highest_throughput: false,
    },
    Claim {
        transport: "pull-log",
        pattern: "Kafka-style pull",
        rate_low: 100_000.0,
        rate_high: 1_000_000.0,
        open_ended: true,
        latency: LatencyClass::Medium,
        overhead: None,
        highest_throughput: true,
    },
];

/// A transport's measured capacity.
#[derive(Debug, Clone, PartialEq)]
pub struct Capacity {
    /// Messages per second it sustained.
    pub msgs_per_sec: f64,
    /// How the figure was obtained.
    pub basis: String,
}

/// Measured capacity: the highest offered rate sustained (no saturation, no loss, p99 within
/// `target`); if even the top of the sweep was sustained, the closed-loop throughput when it is
/// higher, since the sweep then never found the limit.
pub fn capacity(v: &Variant<'_>, transport: &str, target: Option<Duration>) -> Option<Capacity> {
    let best = v
        .max_sustained(transport, target)
        .and_then(|c| Some((c.rate.per_sec()?, c)));
    let top = v
        .cells
        .iter()
        .filter(|c| c.transport == transport)
        .filter_map(|c| c.rate.per_sec())
        .reduce(f64::max);
    let closed = v
        .cell(transport, RateKey::Max)
        .filter(|c| c.run.lost == 0 && c.run.status == "ok");
    let target_note = target
        .map(|t| format!(", p99 ≤ {}", format::nanos(t.as_nanos() as f64)))
        .unwrap_or_default();
    match (best, closed) {
        (Some((rate, _)), Some(max))
            if Some(rate) == top && max.run.throughput.msgs_per_sec > rate =>
        {
            Some(Capacity {
                msgs_per_sec: max.run.throughput.msgs_per_sec,
                basis: "closed-loop throughput (every offered rate was sustained)".to_owned(),
            })
        }
        (Some((rate, _)), _) => Some(Capacity {
            msgs_per_sec: rate,
            basis: format!("highest offered rate sustained with no saturation, no loss{target_note}"),
        }),
        (None, Some(max)) => Some(Capacity {
            msgs_per_sec: max.run.throughput.msgs_per_sec,
            basis: "closed-loop throughput (no offered rate was sustained)".to_owned(),
        }),
        (None, None) => None,
    }
}

/// The run a claim's latency and overhead are read from: the highest sustained open-loop rate
/// within the claimed range's ceiling, else the lowest offered rate.
fn representative<'v, 'a>(v: &'v Variant<'a>, claim: &Claim) -> Option<&'v Cell<'a>> {
    let ceiling = if claim.open_ended {
        f64::INFINITY
    } else {
        claim.rate_high
    };
    let open = || {
        v.cells
            .iter()
            .filter(|c| c.transport == claim.transport && c.rate.per_sec().is_some())
    };
    let rate = |c: &&Cell<'_>| c.rate.per_sec().unwrap_or(0.0);
    open()
        .filter(|c| sustained(c.run) && rate(c) <= ceiling)
        .max_by(|a, b| rate(a).total_cmp(&rate(b)))
        .or_else(|| open().min_by(|a, b| rate(a).total_cmp(&rate(b))))
}

/// One row of the verdict table.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Transport.
    pub transport: String,
    /// What was claimed.
    pub claim: String,
    /// What was measured.
    pub measured: String,
    /// `holds` or `does not hold`, with by how much.
    pub verdict: String,
}

/// Verdicts for every claim whose transport ran in `v`.
pub fn verdicts(v: &Variant<'_>, target: Option<Duration>) -> Vec<Verdict> {
    let present: Vec<&Claim> = CLAIMS
        .iter()
        .filter(|c| v.transports.iter().any(|t| t == c.transport))
        .collect();
    let mut out = Vec::new();
    for claim in &present {
        let row = |claim_text: String, measured: String, verdict: String| Verdict {
            transport: claim.transport.to_owned(),
            claim: claim_text,
            measured,
            verdict,
        };
        let range = format!(
            "{}–{}{} msg/s",
            format::count(claim.rate_low),
            format::count(claim.rate_high),
            if claim.open_ended { "+" } else { "" }
        );
        match capacity(v, claim.transport, target) {
            Some(cap) => {
                let m = cap.msgs_per_sec;
                let verdict = if m < claim.rate_low {
                    format!(
                        "does not hold: {} below the claimed floor",
                        format::ratio(claim.rate_low / m)
                    )
                } else if m > claim.rate_high && !claim.open_ended {
                    format!(
                        "does not hold: {} above the claimed ceiling (understated)",
                        format::ratio(m / claim.rate_high)
                    )
                } else {
                    "holds".to_owned()
                };
                out.push(row(
                    range,
                    format!("{} msg/s: {}", format::count(m), cap.basis),
                    verdict,
                ));
            }
            None => out.push(row(range, "no run".to_owned(), "not measured".to_owned())),
        }
        let Some(rep) = representative(v, claim) else {
            continue;
        };
        let at = rep
            .rate
            .per_sec()
            .map(|r| format!(" at {} msg/s", format::count(r)))
            .unwrap_or_default();
        let p99 = rep.run.latency_ns.p99 as f64;
        let floor = v
            .cell(FLOOR, rep.rate)
            .map(|c| c.run.latency_ns.p99 as f64)
            .filter(|f| *f > 0.0);
        let measured_class = LatencyClass::of(p99, floor);
        let vs_floor = floor
            .map(|f| format!(", {} the raw-TCP floor", format::ratio(p99 / f)))
            .unwrap_or_default();
        out.push(row(
            format!("{} latency", claim.latency.name()),
            format!(
                "p99 {}{at}{vs_floor} → {}",
                format::nanos(p99),
                measured_class.name()
            ),
            class_verdict(
                claim.latency as u8,
                measured_class as u8,
                measured_class.name(),
            ),
        ));
        if let Some(claimed) = claim.overhead {
            let bytes = rep.run.wire.overhead_bytes_per_msg;
            let measured = OverheadClass::of(bytes);
            out.push(row(
                format!("{} header overhead", claimed.name()),
                format!(
                    "{} non-payload per delivered message{at} → {}",
                    format::bytes(bytes),
                    measured.name()
                ),
                class_verdict(claimed as u8, measured as u8, measured.name()),
            ));
        }
        if claim.highest_throughput {
            let mine = capacity(v, claim.transport, target).map_or(0.0, |c| c.msgs_per_sec);
            let rivals: Vec<(String, f64)> = present
                .iter()
                .filter(|c| c.transport != claim.transport)
                .filter_map(|c| {
                    Some((
                        c.transport.to_owned(),
                        capacity(v, c.transport, target)?.msgs_per_sec,
                    ))
                })
                .collect();
            if let Some((name, best)) = rivals
                .iter()
                .cloned()
                .reduce(|a, b| if b.1 > a.1 { b } else { a })
            {
                let verdict = if mine > best {
                    format!(
                        "holds: {} the next best ({name})",
                        format::ratio(mine / best)
                    )
                } else {
                    format!(
                        "does not hold: {name} reached {} of this",
                        format::ratio(best / mine.max(1.0))
                    )
                };
                out.push(row(
                    "very high throughput (highest of the three)".to_owned(),
                    format!(
                        "{} msg/s vs {name} {} msg/s",
                        format::count(mine),
                        format::count(best)
                    ),
                    verdict,
                ));
            }
        }
    }
    out
}

/// Compares classes by their order (low < medium < high): lower is better for latency and
/// overhead alike.
fn class_verdict(claimed: u8, measured: u8, measured_name: &str) -> String {
    if claimed == measured {
        return "holds".to_owned();
    }
    let side = if measured < claimed {
        "lower (better)"
    } else {
        "higher (worse)"
    };
    format!("does not hold: measured {measured_name}, {side} than claimed")
}
