//! Plain-language findings computed from the data: each sentence states a measured figure and
//! the run it comes from, so a reader can check it against the table.

use std::time::Duration;

use crate::charts::select::{Cell, RateKey, Variant};
use crate::registry::FLOOR;
use crate::text;

fn at(rate: RateKey) -> String {
    match rate {
        RateKey::PerSec(r) => format!("at {} msg/s", text::count(r)),
        RateKey::Max => "in closed loop".to_owned(),
    }
}

/// The findings for one variant, one sentence per item.
pub fn findings(v: &Variant<'_>, target: Option<Duration>) -> Vec<String> {
    let rate = v.comparison_rate();
    let cells = v.at(rate);
    let mut out = latency(&cells, rate);
    out.extend(overhead(&cells, rate));
    out.extend(closed_loop_top(v));
    out.extend(super::limits::findings(v));
    if v.open_rates().len() > 1 {
        out.extend(sustained_rates(v, target));
    }
    out.extend(problems(v));
    out
}

fn p99(c: &Cell<'_>) -> f64 {
    c.run.latency.latency_ns.p99 as f64
}

/// Each transport's p99 against the floor's, then the best against the worst.
fn latency(cells: &[&Cell<'_>], rate: RateKey) -> Vec<String> {
    let mut out = Vec::new();
    let floor = cells.iter().find(|c| c.transport == FLOOR).copied();
    let others: Vec<&Cell<'_>> = cells
        .iter()
        .copied()
        .filter(|c| c.transport != FLOOR)
        .collect();
    for c in &others {
        let mut s = format!(
            "**{}** p99 is {} {} (p50 {})",
            c.transport,
            text::nanos(p99(c)),
            at(rate),
            text::nanos(c.run.latency.latency_ns.p50 as f64)
        );
        if let Some(f) = floor.filter(|f| p99(f) > 0.0) {
            s.push_str(&format!(
                ": {} the raw-TCP floor ({}).",
                text::ratio(p99(c) / p99(f)),
                text::nanos(p99(f))
            ));
        } else {
            s.push('.');
        }
        out.push(s);
    }
    // Best against worst.
    let ranked = {
        let mut r: Vec<&Cell<'_>> = others.iter().copied().filter(|c| p99(c) > 0.0).collect();
        r.sort_by(|a, b| p99(a).total_cmp(&p99(b)));
        r
    };
    if let (Some(best), Some(worst), true) = (ranked.first(), ranked.last(), ranked.len() > 1) {
        out.push(format!(
            "**{}** p99 is {} lower than **{}** {} ({} vs {}).",
            best.transport,
            text::ratio(p99(worst) / p99(best)),
            worst.transport,
            at(rate),
            text::nanos(p99(best)),
            text::nanos(p99(worst))
        ));
    }
    out
}

/// Bytes beyond the payload, and how many messages each delivery unit carried.
fn overhead(cells: &[&Cell<'_>], rate: RateKey) -> Vec<String> {
    let mut out = Vec::new();
    for c in cells {
        let w = &c.run.traffic.wire;
        if w.client_to_server_bytes + w.server_to_client_bytes == 0 {
            continue;
        }
        out.push(format!(
            "**{}** carries {} of headers, framing and polls per delivered message {} ({} to publish and {} of acknowledgement per published message, {} of poll or fetch requests and {} of delivery framing per delivered message; payload {}).",
            c.transport,
            text::bytes(w.overhead_bytes_per_msg),
            at(rate),
            text::bytes(w.overhead_c2s_bytes_per_published),
            text::bytes(w.publisher_s2c_bytes_per_published),
            text::bytes(w.subscriber_c2s_bytes_per_delivered),
            text::bytes(w.overhead_s2c_bytes_per_delivered),
            text::bytes(c.run.payload_bytes as f64),
        ));
    }
    for c in cells {
        let u = &c.run.traffic.messages_per_delivery_unit;
        if u.count == 0 {
            continue;
        }
        let mut s = format!(
            "**{}** averaged {} messages per delivery unit {} (p99 {}, max {})",
            c.transport,
            text::sig3(u.mean),
            at(rate),
            u.p99,
            u.max
        );
        if c.run.traffic.empty_delivery_units > 0 {
            s.push_str(&format!(
                ", plus {} empty ones",
                c.run.traffic.empty_delivery_units
            ));
        }
        s.push('.');
        out.push(s);
    }
    out
}

/// Which transport delivered the most in closed loop, against the floor.
fn closed_loop_top(v: &Variant<'_>) -> Option<String> {
    let closed = v.at(RateKey::Max);
    let tput = |c: &Cell<'_>| c.run.latency.throughput.msgs_per_sec;
    let top = closed
        .iter()
        .copied()
        .filter(|c| c.transport != FLOOR)
        .reduce(|a, b| if tput(b) > tput(a) { b } else { a })?;
    let mut s = format!(
        "In closed loop **{}** delivered the most: {} msg/s",
        top.transport,
        text::count(tput(top))
    );
    if let Some(f) = closed
        .iter()
        .find(|c| c.transport == FLOOR)
        .filter(|f| tput(f) > 0.0)
    {
        s.push_str(&format!(
            " ({} the raw-TCP floor's {} msg/s)",
            text::ratio(tput(top) / tput(f)),
            text::count(tput(f))
        ));
    }
    s.push('.');
    Some(s)
}

/// The highest offered rate each transport sustained, and where it first fell behind.
fn sustained_rates(v: &Variant<'_>, target: Option<Duration>) -> Vec<String> {
    let mut out = Vec::new();
    for &t in &v.transports {
        let first_bad = v
            .cells
            .iter()
            .filter(|c| {
                c.transport == t
                    && c.rate.per_sec().is_some()
                    && !crate::charts::select::sustained(c.run)
            })
            .min_by(|a, b| {
                a.rate
                    .per_sec()
                    .unwrap_or(0.0)
                    .total_cmp(&b.rate.per_sec().unwrap_or(0.0))
            });
        let best = v.max_sustained(t, target).and_then(|c| c.rate.per_sec());
        let target_note = target
            .map(|d| format!(" with p99 ≤ {}", text::nanos(d.as_nanos() as f64)))
            .unwrap_or_default();
        let mut s = match best {
            Some(r) => format!(
                "**{t}** sustained up to {} msg/s offered{target_note}",
                text::count(r)
            ),
            None => format!("**{t}** sustained none of the offered rates{target_note}"),
        };
        if let Some(bad) = first_bad {
            let why = bad
                .run
                .load
                .saturation_reason
                .clone()
                .or_else(|| bad.run.failures.first_message().map(str::to_owned));
            s.push_str(&format!(
                "; it first fell behind at {} msg/s{}",
                text::count(bad.rate.per_sec().unwrap_or(0.0)),
                why.map(|w| format!(" ({w})")).unwrap_or_default()
            ));
        }
        s.push('.');
        out.push(s);
    }
    out
}

/// Loss, duplication, reordering and failures: always reported.
fn problems(v: &Variant<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for c in &v.cells {
        let r = c.run;
        if r.delivery.lost + r.delivery.duplicated + r.delivery.reordered > 0 || !r.status.is_ok() {
            out.push(format!(
                "**{}** {}: {} lost, {} duplicated, {} reordered, status {}{}.",
                c.transport,
                at(c.rate),
                r.delivery.lost,
                r.delivery.duplicated,
                r.delivery.reordered,
                r.status,
                if r.failures.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.failures.joined("; "))
                }
            ));
        }
    }
    out
}
