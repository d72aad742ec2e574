//! The faults part of a run's result: what each scheduled fault did.

use serde::{Deserialize, Serialize};

use crate::link::{FaultKind, FaultTarget};

/// What one fault did to a run.
///
/// Attribution is approximate: a message counts against the fault that was the latest to fire
/// when the audit noticed it missing (a gap opened by a later arrival, or the tail never
/// delivered) or when its duplicate arrived. With one fault per run it is exact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultResult {
    /// What the fault did; serialised by its scenario name (`reset-connections`, …).
    pub kind: FaultKind,
    /// Scheduled time from the start of the measured window, seconds.
    pub at_secs: f64,
    /// Blackhole length or server downtime, seconds (0 for resets).
    pub duration_secs: f64,
    /// Whose connections it hit (`all`, `subscribers`, `publishers`).
    pub target: FaultTarget,
    /// Whether it fired before the run ended.
    pub fired: bool,
    /// From the fault to the moment every subscriber that recovered had received a message
    /// sent after the fault, ns; null if none did.
    pub recovery_ns: Option<u64>,
    /// Subscribers that received nothing sent after the fault.
    pub unrecovered_subscribers: u32,
    /// Reconnect attempts and retries from the fault until the next fault (or the end of the
    /// run): the sum of the transport counters whose names contain `reconnect` or `retries`,
    /// or are `poll_errors`.
    pub reconnects: u64,
    /// Messages lost, attributed to this fault.
    pub lost: u64,
    /// Duplicate deliveries, attributed to this fault.
    pub duplicated: u64,
    /// Why the fault could not be carried out, if it could not.
    pub error: Option<String>,
    /// How fast the subscribers were live again (received a message sent after the fault,
    /// or for a churn after their own cut); null for a fault that did not fire.
    #[serde(default)]
    pub reconvergence: Option<Reconvergence>,
    /// Subscribers' TCP connection attempts from the fault until the next one (or the end);
    /// null when the run did not watch them.
    #[serde(default)]
    pub connect_attempts: Option<u64>,
    /// Those attempts that failed (refused, unreachable).
    #[serde(default)]
    pub connect_failures: Option<u64>,
    /// Subscriber connections established over the same span (the server's accepts, as the
    /// clients saw them complete).
    #[serde(default)]
    pub connections: Option<u64>,
    /// The most of those established in any one second.
    #[serde(default)]
    pub accepts_per_sec_peak: Option<u64>,
    /// Handshake bytes the subscribers spent over the same span, both directions (TCP-level
    /// payload of connection set-up: HTTP upgrade, stream opening, Kafka ApiVersions…).
    #[serde(default)]
    pub handshake_bytes: Option<u64>,
    /// Publishers' TCP connection attempts over the same span (a churn aimed at publishers
    /// cuts them; a restart makes them reconnect); null when the run did not watch them.
    #[serde(default)]
    pub publisher_connect_attempts: Option<u64>,
    /// Those attempts that failed.
    #[serde(default)]
    pub publisher_connect_failures: Option<u64>,
    /// Publisher connections established over the same span.
    #[serde(default)]
    pub publisher_connections: Option<u64>,
}

/// When 50%, 99% and 100% of the affected subscribers (every subscriber, or each churn cut)
/// were live again, from the fault (or the cut); a figure is null when that share never was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconvergence {
    /// Half of them.
    pub t50_ns: Option<u64>,
    /// 99% of them.
    pub t99_ns: Option<u64>,
    /// All of them.
    pub t100_ns: Option<u64>,
    /// How many were affected (subscribers, or cuts for a churn).
    pub affected: u64,
    /// How many of those were live again before the run ended.
    pub live_again: u64,
}

impl Reconvergence {
    /// From each affected unit's time to be live again (`None`: never).
    pub fn of(mut times: Vec<Option<u64>>) -> Reconvergence {
        let affected = times.len() as u64;
        times.sort_unstable_by_key(|t| t.unwrap_or(u64::MAX));
        let live: Vec<u64> = times.iter().flatten().copied().collect();
        // The time by which `share` of all affected units were back: the k-th smallest, k the
        // share rounded up, when at least k came back.
        let at = |share: f64| {
            let k = ((share * affected as f64).ceil() as usize).max(1);
            live.get(k - 1).copied()
        };
        Reconvergence {
            t50_ns: at(0.5),
            t99_ns: at(0.99),
            t100_ns: at(1.0),
            affected,
            live_again: live.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Reconvergence;

    #[test]
    fn shares_are_of_everyone_affected_and_null_when_not_reached() {
        let r = Reconvergence::of(vec![Some(30), Some(10), None, Some(20)]);
        assert_eq!((r.t50_ns, r.t99_ns, r.t100_ns), (Some(20), None, None));
        assert_eq!((r.affected, r.live_again), (4, 3));
        let all = Reconvergence::of((1..=100).map(Some).collect());
        assert_eq!(
            (all.t50_ns, all.t99_ns, all.t100_ns),
            (Some(50), Some(99), Some(100))
        );
        assert_eq!(Reconvergence::of(Vec::new()).t100_ns, None);
    }
}
