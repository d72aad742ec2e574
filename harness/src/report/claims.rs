//! The flagship comparison: a widely repeated table of what each pattern can do, encoded as
//! data, set beside what the run measured, with a verdict and by how much.
//!
//! The table: "long polling: 100–1K msg/s, medium latency, high header overhead; WebSockets:
//! 1K–10K msg/s, low latency; Kafka-style pull: 100K–1M+ msg/s, medium latency, very high
//! throughput". Its vague words get explicit, stated thresholds ([`LatencyClass::of`],
//! [`OverheadClass::of`]) so a verdict can be checked by hand from the summary.

use std::time::Duration;

use crate::charts::select::{Cell, RateKey, Variant, sustained};
use crate::registry::{FLOOR, TransportKind};
use crate::text;

/// How fast a claim says a pattern is, relative to the raw-TCP floor at the same offered rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LatencyClass {
    /// p50 under 3× the floor.
    Low,
    /// p50 from 3× to 30× the floor.
    Medium,
    /// p50 at or above 30× the floor.
    High,
}

impl LatencyClass {
    /// Classifies a latency by its ratio to the floor's at the same rate; without a floor, by absolute value
    /// (under 1 ms low, under 100 ms medium) — loopback makes absolute classes flattering, so
    /// the ratio is preferred.
    pub fn of(latency_ns: f64, floor_ns: Option<f64>) -> LatencyClass {
        let (value, low, medium) = match floor_ns.filter(|f| *f > 0.0) {
            Some(f) => (latency_ns / f, 3.0, 30.0),
            None => (latency_ns, 1e6, 1e8),
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

    /// The class as the claims table words it.
    pub(crate) fn name(self) -> &'static str {
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
    pub transport: TransportKind,
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
        transport: TransportKind::LongPoll,
        pattern: "long polling",
        rate_low: 100.0,
        rate_high: 1_000.0,
        open_ended: false,
        latency: LatencyClass::Medium,
        overhead: Some(OverheadClass::High),
        highest_throughput: false,
    },
    Claim {
        transport: TransportKind::WebSocket,
        pattern: "WebSockets",
        rate_low: 1_000.0,
        rate_high: 10_000.0,
        open_ended: false,
        latency: LatencyClass::Low,
        overhead: None,
        highest_throughput: false,
    },
    Claim {
        transport: TransportKind::PullLog,
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

/// Measured capacity: the highest rate at which a run met every condition (no saturation, no
/// loss, p99 within `target`), counting open-loop runs at their offered rate and the closed-loop
/// (`max`) run at its delivered throughput.
pub fn capacity(
    v: &Variant<'_>,
    transport: TransportKind,
    target: Option<Duration>,
) -> Option<Capacity> {
    let within = |c: &&Cell<'_>| {
        target.is_none_or(|t| u128::from(c.run.latency.latency_ns.p99) <= t.as_nanos())
    };
    let open = v
        .max_sustained(transport, target)
        .and_then(|c| c.rate.per_sec());
    let closed = v
        .cell(transport, RateKey::Max)
        .filter(|c| sustained(c.run))
        .filter(within)
        .map(|c| c.run.latency.throughput.msgs_per_sec);
    let target_note = target
        .map(|t| format!(", p99 ≤ {}", text::nanos(t.as_nanos() as f64)))
        .unwrap_or_default();
    let conditions = format!("no saturation, no loss{target_note}");
    match (open, closed) {
        (o, Some(c)) if o.is_none_or(|o| c > o) => Some(Capacity {
            msgs_per_sec: c,
            basis: format!("closed-loop throughput ({conditions})"),
        }),
        (Some(o), _) => Some(Capacity {
            msgs_per_sec: o,
            basis: format!("highest offered rate sustained ({conditions})"),
        }),
        (None, _) => None,
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
    pub transport: TransportKind,
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
        .filter(|c| v.transports.contains(&c.transport))
        .collect();
    let mut out = Vec::new();
    for claim in &present {
        out.push(rate_row(v, claim, target));
        let Some(rep) = representative(v, claim) else {
            continue;
        };
        let at = rep
            .rate
            .per_sec()
            .map(|r| format!(" at {} msg/s", text::count(r)))
            .unwrap_or_default();
        out.push(latency_row(v, claim, rep, &at));
        out.extend(overhead_row(claim, rep, &at));
        if claim.highest_throughput {
            out.extend(throughput_row(v, claim, &present, target));
        }
    }
    out
}

impl Verdict {
    fn of(claim: &Claim, text: String, measured: String, verdict: String) -> Verdict {
        Verdict {
            transport: claim.transport,
            claim: text,
            measured,
            verdict,
        }
    }
}

/// The claimed rate range against the measured capacity.
fn rate_row(v: &Variant<'_>, claim: &Claim, target: Option<Duration>) -> Verdict {
    let range = format!(
        "{}–{}{} msg/s",
        text::count(claim.rate_low),
        text::count(claim.rate_high),
        if claim.open_ended { "+" } else { "" }
    );
    let Some(cap) = capacity(v, claim.transport, target) else {
        return Verdict::of(
            claim,
            range,
            "no run met the conditions (no saturation, no loss, p99 within target)".to_owned(),
            with_limit(
                "does not hold: no rate was sustained".to_owned(),
                v,
                claim.transport,
            ),
        );
    };
    let m = cap.msgs_per_sec;
    let verdict = if m < claim.rate_low {
        format!(
            "does not hold: {} below the claimed floor",
            text::ratio(claim.rate_low / m)
        )
    } else if m > claim.rate_high && !claim.open_ended {
        format!(
            "does not hold: {} above the claimed ceiling (understated)",
            text::ratio(m / claim.rate_high)
        )
    } else {
        "holds".to_owned()
    };
    let measured = format!("{} msg/s: {}", text::count(m), cap.basis);
    Verdict::of(
        claim,
        range,
        measured,
        with_limit(verdict, v, claim.transport),
    )
}

/// A capacity verdict with what capped the capacity (`limited_by` of the run past it), so the
/// verdict never blames a pattern for what our publisher, the window or the link did.
fn with_limit(verdict: String, v: &Variant<'_>, transport: TransportKind) -> String {
    match super::limits::ceiling_run(v, transport).and_then(super::limits::note) {
        Some(note) => format!("{verdict}; {note}"),
        None => verdict,
    }
}

/// The claimed latency class against the representative run's (`at` names its rate).
fn latency_row(v: &Variant<'_>, claim: &Claim, rep: &Cell<'_>, at: &str) -> Verdict {
    // Typical (p50) latency decides the class: it is what "low" or "medium latency" means
    // for a pattern, and unlike p99 it is not dominated by scheduler hiccups on a shared
    // machine. p99 is shown beside it.
    let p50 = rep.run.latency.latency_ns.p50 as f64;
    let p99 = rep.run.latency.latency_ns.p99 as f64;
    let floor = floor_p50(v, rep.rate);
    let measured_class = LatencyClass::of(p50, floor);
    let vs_floor = floor
        .map(|f| format!(" ({} the raw-TCP floor's p50)", text::ratio(p50 / f)))
        .unwrap_or_default();
    Verdict::of(
        claim,
        format!("{} latency", claim.latency.name()),
        format!(
            "p50 {}{vs_floor}; this transport's p99 {}{at} → {}",
            text::nanos(p50),
            text::nanos(p99),
            measured_class.name()
        ),
        class_verdict(
            claim.latency as u8,
            measured_class as u8,
            measured_class.name(),
        ),
    )
}

/// The claimed header overhead class, if the claim makes one, against the representative run.
fn overhead_row(claim: &Claim, rep: &Cell<'_>, at: &str) -> Option<Verdict> {
    let claimed = claim.overhead?;
    let bytes = rep.run.traffic.wire.overhead_bytes_per_msg;
    let measured = OverheadClass::of(bytes);
    Some(Verdict::of(
        claim,
        format!("{} header overhead", claimed.name()),
        format!(
            "{} non-payload per delivered message{at} → {}",
            text::bytes(bytes),
            measured.name()
        ),
        class_verdict(claimed as u8, measured as u8, measured.name()),
    ))
}

/// "Highest throughput of the three": the claim's capacity against the best rival's.
fn throughput_row(
    v: &Variant<'_>,
    claim: &Claim,
    present: &[&Claim],
    target: Option<Duration>,
) -> Option<Verdict> {
    let mine = capacity(v, claim.transport, target).map_or(0.0, |c| c.msgs_per_sec);
    let (name, best) = present
        .iter()
        .filter(|c| c.transport != claim.transport)
        .filter_map(|c| Some((c.transport, capacity(v, c.transport, target)?.msgs_per_sec)))
        .reduce(|a, b| if b.1 > a.1 { b } else { a })?;
    let verdict = if mine > best {
        format!("holds: {} the next best ({name})", text::ratio(mine / best))
    } else {
        let theirs = super::limits::ceiling_run(v, name)
            .and_then(super::limits::note)
            .map(|n| format!("; {name}'s figure {n}"))
            .unwrap_or_default();
        format!(
            "does not hold: {name} reached {} of this{theirs}",
            text::ratio(best / mine.max(1.0))
        )
    };
    let verdict = with_limit(verdict, v, claim.transport);
    Some(Verdict::of(
        claim,
        "very high throughput (highest of the three)".to_owned(),
        format!(
            "{} msg/s vs {name} {} msg/s",
            text::count(mine),
            text::count(best)
        ),
        verdict,
    ))
}

/// The floor's p50 at `rate`; if that floor run fell behind (then it measures the machine, not
/// the wire), the lowest p50 among the floor's sustained runs.
fn floor_p50(v: &Variant<'_>, rate: RateKey) -> Option<f64> {
    let p50 = |c: &Cell<'_>| c.run.latency.latency_ns.p50 as f64;
    match v.cell(FLOOR, rate) {
        Some(c) if sustained(c.run) => Some(p50(c)),
        _ => v
            .cells
            .iter()
            .filter(|c| c.transport == FLOOR && sustained(c.run))
            .map(p50)
            .reduce(f64::min),
    }
    .filter(|f| *f > 0.0)
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
