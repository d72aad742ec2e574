//! The "Storms" section of `report.md`: for every server restart and churn, the transports
//! ranked by how fast 99% of their subscribers were live again, then by what they lost, with
//! what the storm cost the server while it lasted and once it had settled (from the per-second
//! timeseries) and each process the server ran as.

use std::fmt::Write as _;

use crate::link::{FaultKind, FaultTarget};
use crate::results::faults::FaultResult;
use crate::results::summary::IntervalPoint;
use crate::results::{RunResult, Summary};
use crate::text;

/// The section, or nothing when no run had a restart or a churn.
pub fn markdown(summary: &Summary) -> String {
    let mut rows: Vec<(&RunResult, &FaultResult)> = summary
        .runs
        .iter()
        .flat_map(|r| r.faults.iter().map(move |f| (r, f)))
        .filter(|(_, f)| matches!(f.kind, FaultKind::ServerRestart | FaultKind::Churn))
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    rows.sort_by_key(|(r, f)| {
        let t99 = f.reconvergence.as_ref().and_then(|c| c.t99_ns);
        // Fleets of one size together: a 1,000-subscriber storm beside a 10,000 one says
        // little.
        (
            f.kind.name(),
            (f.at_secs * 1e3) as u64,
            r.subscribers,
            t99.unwrap_or(u64::MAX),
            f.lost,
            r.transport.name(),
        )
    });
    let mut out = String::from(
        "\n## Storms\n\nEvery server restart and churn, fastest back first: when 50%, 99% and 100% \
         of the subscribers were live again (a message sent after the fault, or after its own \
         cut, arrived), what was lost and delivered twice, the subscribers' connection attempts, \
         the most connections completed in one second, the handshake bytes they spent, and the server's CPU (share of one core) \
         and resident memory at their peak during the storm and after it settled.\n\n",
    );
    out.push_str(
        "| run | fault | t50 | t99 | t100 | lost | dup | connects (failed) | accepts/s peak | handshake bytes | server CPU peak during / after | server RSS peak during / after |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (r, f) in &rows {
        let (during, after) = split(&r.timeseries, f);
        let _ = writeln!(
            out,
            "| {} | {} at {}s | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            super::conditions::label(summary, r),
            f.kind,
            f.at_secs,
            t(f, |c| c.t50_ns),
            t(f, |c| c.t99_ns),
            t(f, |c| c.t100_ns),
            f.lost,
            f.duplicated,
            match (f.connect_attempts, f.connect_failures) {
                (Some(a), Some(x)) => format!("{a} ({x})"),
                _ => "–".to_owned(),
            },
            f.accepts_per_sec_peak
                .map_or("–".to_owned(), |a| a.to_string()),
            f.handshake_bytes
                .map_or("–".to_owned(), |b| text::bytes(b as f64)),
            pair(cpu_peak(&during), cpu_peak(&after), |c| format!(
                "{:.0}%",
                c * 100.0
            )),
            pair(rss_peak(&during), rss_peak(&after), |b| text::bytes(
                b as f64
            )),
        );
    }
    out.push_str(&incarnations(summary));
    out.push_str(&publishers(summary, &rows));
    out.push_str(&losses(&rows));
    out
}

/// What a churn aimed at publishers cost them: their reconnections in its span.
fn publishers(summary: &Summary, rows: &[(&RunResult, &FaultResult)]) -> String {
    let mut out = String::new();
    for (r, f) in rows {
        if f.kind != FaultKind::Churn || f.target == FaultTarget::Subscribers {
            continue;
        }
        let (Some(made), Some(tried), Some(failed)) = (
            f.publisher_connections,
            f.publisher_connect_attempts,
            f.publisher_connect_failures,
        ) else {
            continue;
        };
        let _ = writeln!(
            out,
            "- {}: the churn cut its publishers too; they made {made} connections ({tried} attempts, {failed} failed) and resent what had not been confirmed.",
            super::conditions::label(summary, r),
        );
    }
    if !out.is_empty() {
        out.insert(0, '\n');
    }
    out
}

fn t(f: &FaultResult, pick: fn(&crate::results::faults::Reconvergence) -> Option<u64>) -> String {
    f.reconvergence
        .as_ref()
        .and_then(pick)
        .map_or("–".to_owned(), |ns| text::nanos(ns as f64))
}

fn pair<T>(a: Option<T>, b: Option<T>, show: impl Fn(T) -> String) -> String {
    let s = |v: Option<T>| v.map_or("–".to_owned(), &show);
    format!("{} / {}", s(a), s(b))
}

/// The seconds of the storm (from the fault until every subscriber was back, or the fault's
/// own length if longer) and those after it.
fn split<'a>(
    series: &'a [IntervalPoint],
    f: &FaultResult,
) -> (Vec<&'a IntervalPoint>, Vec<&'a IntervalPoint>) {
    let back = f
        .reconvergence
        .as_ref()
        .and_then(|c| c.t100_ns)
        .map_or(f64::INFINITY, |ns| ns as f64 / 1e9);
    let end = f.at_secs + back.max(f.duration_secs);
    let during = series
        .iter()
        .filter(|p| f64::from(p.second) + 1.0 > f.at_secs && f64::from(p.second) < end)
        .collect();
    let after = series
        .iter()
        .filter(|p| f64::from(p.second) >= end)
        .collect();
    (during, after)
}

fn cpu_peak(points: &[&IntervalPoint]) -> Option<f64> {
    points
        .iter()
        .filter_map(|p| p.server_cpu_s)
        .reduce(f64::max)
}

fn rss_peak(points: &[&IntervalPoint]) -> Option<u64> {
    points.iter().filter_map(|p| p.server_rss_bytes).max()
}

/// Each restarted server's processes: CPU and resident peak of each.
fn incarnations(summary: &Summary) -> String {
    let mut out = String::new();
    for r in summary
        .runs
        .iter()
        .filter(|r| !r.cost.resources.server.incarnations.is_empty())
    {
        let each: Vec<String> = r
            .cost
            .resources
            .server
            .incarnations
            .iter()
            .enumerate()
            .map(|(i, inc)| {
                format!(
                    "#{} from {:.1} s: {} CPU, peak {}{}",
                    i + 1,
                    inc.started_at_secs,
                    inc.cpu_s.map_or("–".to_owned(), |c| format!("{c:.2} s")),
                    inc.rss_peak_bytes
                        .map_or("–".to_owned(), |b| text::bytes(b as f64)),
                    inc.ended_by
                        .map_or(String::new(), |s| format!(", ended by {s}")),
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "- {}: the server ran as {} processes: {}.",
            super::conditions::label(summary, r),
            each.len(),
            each.join("; ")
        );
    }
    if out.is_empty() {
        out
    } else {
        format!("\n{out}")
    }
}

/// Why a storm lost messages, per run that lost any.
fn losses(rows: &[(&RunResult, &FaultResult)]) -> String {
    let mut out = String::new();
    for (r, f) in rows.iter().filter(|(_, f)| f.lost > 0) {
        let why = match f.kind {
            FaultKind::ServerRestart => {
                "the old server had confirmed them to their publisher but not yet delivered them \
                 when it stopped, and its queues and log were in memory, so they went with it"
            }
            _ => "they were not delivered across the subscribers' reconnections",
        };
        let _ = writeln!(
            out,
            "- {} lost {} in the {} at {}s: {why}.",
            r.transport, f.lost, f.kind, f.at_secs
        );
    }
    if out.is_empty() {
        out
    } else {
        format!("\n{out}")
    }
}
