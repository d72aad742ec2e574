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
}
