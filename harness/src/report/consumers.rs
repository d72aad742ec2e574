//! The report's "Consumers that fall behind" section, for scenarios with `[[consumers]]`:
//! per run with lagging subscribers, what the server held for them beyond the same load with
//! no lagging class (resident memory, and the kernel's socket send queues where measured),
//! what it did to the full-speed subscribers (isolation), how far the laggards fell behind and
//! how fast they caught up, and what the transport's policy did — ranked by memory per lagging
//! consumer; then the article's claim about per-consumer memory, judged by these figures.

use std::fmt::Write as _;

use super::tables::cell;
use crate::charts::lagging::{Lagging, lagging_runs};
use crate::registry::TransportKind;
use crate::results::Summary;
use crate::text;

/// The share of a lagging consumer's backlog its server must hold for it before it counts as
/// "paying per consumer": a server with per-consumer queues holds nearly all of it until a
/// bound, one serving a shared log only what one reply or fetch carries.
const HELD_SHARE: f64 = 0.5;

/// The section (empty when no run had lagging subscribers).
pub fn markdown(summary: &Summary) -> String {
    let mut rows = lagging_runs(summary);
    if rows.is_empty() {
        return String::new();
    }
    rows.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let mut out = String::from("\n## Consumers that fall behind\n\n");
    out.push_str(
        "Each run is read against its control: the same transport and load with every consumer \
         class at share 0. Per lagging consumer, beyond the control and over lagging subscribers: \
         the server's peak resident memory (user space, measured in its own process), of which \
         its per-subscriber queues held the \"queued\" part, and the peak bytes waiting in the \
         kernel's send queues of the server's sockets (`/proc/net/tcp` tx_queue, as SIOCOUTQ \
         reads it), which no resident-memory figure includes; growth is the slope of resident \
         memory over the measured window per lagging subscriber. Isolation \
         is the full-speed subscribers' p50 and p99 over the control's (1× = untouched). Lagging \
         consumers throttle, pause or leave only inside the measured window, then read at full \
         speed: whatever they never received was dropped by the transport's policy and is \
         counted as lost. Rows are ranked by memory per lagging consumer.\n\n",
    );
    out.push_str(
        "| transport | lagging classes | lagging | resident / lagging consumer | queued | kernel send queue | growth / s | isolation p50, p99 | max lag | catch-up | lost | policy |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for l in &rows {
        out.push_str(&row(l));
    }
    out.push_str(&claim(&rows));
    out
}

/// Ranking key: memory (resident plus kernel) per lagging consumer, unmeasured last.
fn key(l: &Lagging<'_>) -> f64 {
    l.total_per_lagging()
        .or_else(|| l.rss_per_lagging())
        .unwrap_or(f64::INFINITY)
}

fn row(l: &Lagging<'_>) -> String {
    let dash = || "–".to_owned();
    let c = l.class;
    let lag = match (c.max_lag_messages, c.max_lag_ns) {
        (Some(m), Some(ns)) => {
            format!("{} msgs, {}", text::count(m as f64), text::nanos(ns as f64))
        }
        _ => dash(),
    };
    let catch_up = match (c.catch_up_ns, c.caught_up) {
        (Some(ns), _) => text::nanos(ns as f64),
        (None, Some(n)) => format!("{n} of {} caught up", c.subscribers),
        _ => dash(),
    };
    let policy: Vec<String> = l.policy().iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        l.run.transport,
        classes(l),
        l.lagging(),
        l.rss_per_lagging().map_or_else(dash, signed_bytes),
        l.queued_per_lagging().map_or_else(dash, signed_bytes),
        l.kernel_per_lagging().map_or_else(dash, signed_bytes),
        l.rss_growth_per_lagging_per_sec()
            .map_or_else(dash, signed_bytes),
        l.isolation().map_or_else(dash, |(a, b)| format!(
            "{}, {}",
            text::ratio(a),
            text::ratio(b)
        )),
        lag,
        catch_up,
        lost(l),
        cell(&if policy.is_empty() {
            dash()
        } else {
            policy.join(", ")
        }),
    )
}

/// The run's lagging classes with their shares, e.g. `slow 0.01 + paused 0.1`.
fn classes(l: &Lagging<'_>) -> String {
    let lagging: Vec<String> = l
        .run
        .consumers
        .iter()
        .filter(|c| c.behaviour != "full" && c.subscribers > 0)
        .map(|c| format!("{} {}", c.behaviour, text::trim_float(c.share)))
        .collect();
    lagging.join(" + ")
}

/// Messages the lagging classes lost.
fn lost(l: &Lagging<'_>) -> u64 {
    l.run
        .consumers
        .iter()
        .filter(|c| c.behaviour != "full")
        .map(|c| c.lost)
        .sum()
}

fn signed_bytes(b: f64) -> String {
    if b < 0.0 {
        format!("−{}", text::bytes(-b))
    } else {
        text::bytes(b)
    }
}

/// The article's claim, judged per transport by what its server held for a lagging consumer
/// against how far that consumer was behind: a server that keeps per-consumer state holds
/// most of each laggard's backlog (until a queue or socket buffer bounds it), one that serves
/// a shared log holds at most what one reply or fetch carries. Judged on the run where the
/// laggards fell furthest behind.
fn claim(rows: &[Lagging<'_>]) -> String {
    let mut out = String::from(
        "\n**Claim:** \"push servers pay per-consumer memory for slow consumers; a pull broker does not\".\n\n| transport | consumers | held / lagging consumer (resident + kernel) | its backlog | held share | verdict |\n|---|---|---|---|---|---|\n",
    );
    let mut transports: Vec<TransportKind> = rows.iter().map(|l| l.run.transport).collect();
    transports.sort();
    transports.dedup();
    for t in transports {
        let furthest = rows.iter().filter(|l| l.run.transport == t).max_by(|a, b| {
            let behind = |l: &&Lagging<'_>| l.backlog_bytes().unwrap_or(0.0);
            behind(a).total_cmp(&behind(b))
        });
        let held = furthest.and_then(|l| l.total_per_lagging().or_else(|| l.rss_per_lagging()));
        let backlog = furthest.and_then(Lagging::backlog_bytes);
        let share = held.zip(backlog.filter(|b| *b > 0.0)).map(|(h, b)| h / b);
        let _ = writeln!(
            out,
            "| {t} | {} | {} | {} | {} | {} |",
            if t.consumers_pull() { "pull" } else { "push" },
            held.map_or_else(|| "–".to_owned(), signed_bytes),
            backlog.map_or_else(|| "–".to_owned(), text::bytes),
            share.map_or_else(|| "–".to_owned(), |s| format!("{:.0}%", s * 100.0)),
            verdict(t.consumers_pull(), held, share),
        );
    }
    let _ = writeln!(
        out,
        "\nA server \"pays per consumer\" when it held at least {:.0}% of a lagging consumer's backlog for it.",
        HELD_SHARE * 100.0
    );
    out
}

/// The claim's verdict for one transport.
fn verdict(pulls: bool, held: Option<f64>, share: Option<f64>) -> &'static str {
    match (pulls, held, share) {
        (_, None, _) => "not measured (the server shares the load generator's process)",
        (_, Some(_), None) => "not judged: its lagging consumers never fell behind",
        (false, _, Some(s)) if s >= HELD_SHARE => {
            "holds: the server held each lagging consumer's backlog for it"
        }
        (false, _, Some(_)) => {
            "does not hold here: the server held little of each lagging consumer's backlog"
        }
        (true, _, Some(s)) if s < HELD_SHARE => {
            "holds: the server held little beyond one reply per lagging consumer"
        }
        (true, _, Some(_)) => {
            "does not hold: this pull server held each lagging consumer's backlog"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_judges_the_share_of_the_backlog_held_not_a_size() {
        let push = |held: Option<f64>, share| verdict(false, held, share);
        let pull = |held: Option<f64>, share| verdict(true, held, share);
        assert!(push(Some(2e6), Some(0.8)).starts_with("holds"));
        assert!(push(Some(2e6), Some(0.2)).starts_with("does not hold here"));
        assert!(pull(Some(5e5), Some(0.2)).starts_with("holds"));
        assert!(pull(Some(5e6), Some(0.9)).starts_with("does not hold"));
        assert!(push(None, None).starts_with("not measured"));
        assert!(pull(Some(1e5), None).starts_with("not judged"));
    }
}
