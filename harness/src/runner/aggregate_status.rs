//! A run's status: why it was saturated (the offered load not applied or not delivered on
//! time) and why it failed (the harness's and the transport's failures, then the audit's).

use super::super::output::RunOutput;
use super::{Audit, MAX_GENERATOR_LAG_P99_NS, MAX_LAG_P99_NS, MIN_ACHIEVED_SHARE, Recorded};
use crate::results::failures::{FailureKind, Failures};
use crate::results::latency::Percentiles;
use crate::scenario::Rate;

/// Why the offered load was not applied or not delivered on time (empty: not saturated).
pub(super) fn saturation_reasons(
    out: &RunOutput,
    rec: &Recorded,
    audit: &Audit,
    lag: &Percentiles,
    generator_lag: &Percentiles,
) -> Vec<String> {
    let secs = out.measured.as_secs_f64();
    let mut reasons = Vec::new();
    if out.unsent > 0 {
        reasons.push(format!(
            "publishers fell behind and never sent {} scheduled messages",
            out.unsent
        ));
    }
    if let Rate::PerSec(rate) = out.spec.rate {
        // Against what the schedule put in the window, not rate × seconds: at low rates the
        // rounding of a handful of messages must not look like saturation.
        let scheduled = out.scheduled_in_window.unwrap_or((rate * secs) as u64);
        if out.published_in_window == 0 && scheduled > 0 {
            // No latency sample can exist; say why instead of printing 0 ns.
            reasons.push(format!(
                "nothing was published inside the measured window ({scheduled} scheduled): the publishers were still held back by earlier sends (each publish waits for a round trip or a batch acknowledgement), so the run has no latency samples"
            ));
        } else if (out.published_in_window as f64) < scheduled as f64 * MIN_ACHIEVED_SHARE {
            let achieved = out.published_in_window as f64 / secs;
            reasons.push(format!("published {achieved:.0} msg/s of {rate} offered"));
        }
        if lag.p99 > MAX_LAG_P99_NS {
            // Either way the offered load was not applied on time; say whose delay it was.
            let whose = if generator_lag.p99 > MAX_GENERATOR_LAG_P99_NS
                && generator_lag.p99 >= lag.p99 / 2
            {
                "mostly the load generator's own: the machine could not keep up"
            } else if out.faults.iter().any(|f| f.fired) {
                // Publishers that wait for a reconnect hold the schedule back by the outage.
                "publishing blocked, in a run with faults: see faults[]"
            } else {
                "publishing blocked"
            };
            reasons.push(format!(
                "schedule lag p99 {:.1} ms ({whose})",
                lag.p99 as f64 / 1e6
            ));
        }
    }
    // Subscribers that lag by design (consumer classes) are not the system falling behind.
    let expected = audit.expected_in_window_full;
    let delivered = rec.full_delivered_in_window as f64;
    if expected > 0.0 && delivered < expected * MIN_ACHIEVED_SHARE {
        reasons.push(format!(
            "full-speed subscribers received {:.0}% of the window's messages within the window",
            100.0 * delivered / expected
        ));
    }
    reasons
}

/// The run's failures: the harness's and the transport's, then what the audit found. `lost`
/// counts only the losses the scenario does not allow.
pub(super) fn failures(mut failures: Failures, rec: &Recorded, lost: u64) -> Failures {
    if lost > 0 {
        failures.add(FailureKind::Lost, format!("{lost} messages lost"));
    }
    if rec.misrouted > 0 {
        failures.add(
            FailureKind::Misrouted,
            format!(
                "{} messages reached a subscriber of another topic",
                rec.misrouted
            ),
        );
    }
    if rec.corrupt > 0 {
        failures.add(
            FailureKind::Corrupt,
            format!(
                "{} messages arrived damaged (bad envelope, sequence or length)",
                rec.corrupt
            ),
        );
    }
    if rec.overflow > 0 {
        failures.add(
            FailureKind::HistogramOverflow,
            format!(
                "{} latency samples exceeded the histogram's range",
                rec.overflow
            ),
        );
    }
    failures
}
