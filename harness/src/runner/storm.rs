//! What a storm costs in connections, per fault: attempts, failures, connections made and
//! the most made in any one second (the accept rate the server managed, as the clients saw
//! it), and the same for the publishers; and the log of the clients' side those figures and
//! their handshake bytes come from. (How fast they were live again is per-fault accounting: `faults.rs`.)

use std::collections::BTreeMap;

use transport_core::transport::{
    CONNECT_ATTEMPTS, CONNECT_FAILURES, PUBLISHER_CONNECT_ATTEMPTS, PUBLISHER_CONNECT_FAILURES,
};

use crate::results::faults::FaultResult;

/// What the subscribers' side of a run logged for its storms.
#[derive(Debug, Clone, Default)]
pub struct StormLog {
    /// Every subscriber connection's instant, clock ns, sorted; `None` for a run that did not
    /// watch them (no faults, no classes).
    pub connections: Option<Vec<u64>>,
    /// Every publisher connection's instant, clock ns, sorted; `None` for a run without
    /// faults.
    pub publisher_connections: Option<Vec<u64>>,
    /// The subscribers' handshake bytes (both directions) when the run's accounting ended.
    pub handshake_bytes_end: u64,
}

/// Fills the connection figures of `r` for the span from its fault (counters `from`) to the
/// next fault or the end (counters `to`, instant `until_ns`).
pub fn connection_figures(
    r: &mut FaultResult,
    (from, to): (&BTreeMap<String, u64>, &BTreeMap<String, u64>),
    (at, until_ns): (u64, u64),
    log: &StormLog,
) {
    let delta = |name: &str| {
        let get = |c: &BTreeMap<String, u64>| c.get(name).copied().unwrap_or(0);
        get(to).saturating_sub(get(from))
    };
    let within = |log: &[u64]| -> Vec<u64> {
        log.iter()
            .copied()
            .filter(|&c| (at..until_ns).contains(&c))
            .collect()
    };
    if let Some(log) = &log.publisher_connections {
        r.publisher_connect_attempts = Some(delta(PUBLISHER_CONNECT_ATTEMPTS));
        r.publisher_connect_failures = Some(delta(PUBLISHER_CONNECT_FAILURES));
        r.publisher_connections = Some(within(log).len() as u64);
    }
    let Some(log) = &log.connections else {
        return;
    };
    r.connect_attempts = Some(delta(CONNECT_ATTEMPTS));
    r.connect_failures = Some(delta(CONNECT_FAILURES));
    let made = within(log);
    r.connections = Some(made.len() as u64);
    let mut per_sec: BTreeMap<u64, u64> = BTreeMap::new();
    for c in &made {
        *per_sec.entry((c - at) / 1_000_000_000).or_default() += 1;
    }
    r.accepts_per_sec_peak = Some(per_sec.values().copied().max().unwrap_or(0));
}
