//! Per-fault accounting: when each fault fired, when each subscriber first received a message
//! sent after it (recovery), and which lost and duplicated messages it is blamed for.
//!
//! Attribution follows the audit as it happens. Each subscriber tracks, per publisher, the
//! highest sequence number it has seen; "missing so far" is that high-water mark minus the
//! distinct messages received. Every change of missing-so-far and of the duplicate count is
//! charged to the latest fault fired at that moment (gaps that later fill in are credited back
//! to the fault current then). At the end, messages published beyond the high-water mark are
//! charged to the last fault that fired. The charges add up to the run's totals; which fault
//! gets them is an approximation that is exact with one fault per run.
//!
//! The task that fires the schedule ([`fire`]) lives here too: it drives the link emulator and
//! the server slot, and stamps each fault into the [`FaultTracker`] the subscribers read.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use transport_core::envelope::Envelope;
use transport_core::{Counters, Transport, WireStats, clock};

use super::audit::Arrival;
use super::churn::CutTally;
use super::observe::Observe;
use super::restart::Restartable;
use super::storm::{self, StormLog};
use super::topic::shares_topic;
use crate::link::{Fault, FaultKind, FaultTarget, LinkProxy, Side};
use crate::results::faults::{FaultResult, Reconvergence};

/// Shared between the fault task (which fires) and the subscriber tasks (which observe).
#[derive(Debug)]
pub struct FaultTracker {
    /// When fault `i` fired ([`transport_core::clock`] ns); 0 until it has.
    fired_ns: Vec<AtomicU64>,
    /// Faults fired so far.
    fired: AtomicU64,
}

impl FaultTracker {
    /// A tracker for `faults` scheduled faults.
    pub fn new(faults: usize) -> FaultTracker {
        FaultTracker {
            fired_ns: (0..faults).map(|_| AtomicU64::new(0)).collect(),
            fired: AtomicU64::new(0),
        }
    }

    /// Whether there is anything to track.
    pub fn is_empty(&self) -> bool {
        self.fired_ns.is_empty()
    }

    /// Records that fault `i` fired at `now_ns` (faults fire in order): from here on its
    /// recovery is the first delivery of a message sent at or after `now_ns`.
    pub fn fire(&self, i: usize, now_ns: u64) {
        self.fire_pending(i);
        self.takes_effect(i, now_ns);
    }

    /// Records that fault `i` fired but has not yet taken effect (a server still shutting
    /// down delivers what it has): losses count against it, but no message is its recovery
    /// until [`FaultTracker::takes_effect`].
    pub fn fire_pending(&self, i: usize) {
        if let Some(f) = self.fired_ns.get(i) {
            f.store(u64::MAX, Ordering::SeqCst);
            self.fired.store(i as u64 + 1, Ordering::SeqCst);
        }
    }

    /// Fault `i` took effect at `now_ns`: messages sent from then on can only arrive
    /// through whatever the fault leaves, so the first of them to arrive is its recovery.
    pub fn takes_effect(&self, i: usize, now_ns: u64) {
        if let Some(f) = self.fired_ns.get(i) {
            f.store(now_ns.max(1), Ordering::SeqCst);
        }
    }

    fn fired(&self) -> usize {
        self.fired.load(Ordering::SeqCst) as usize
    }
}

/// One subscriber's view of the faults.
#[derive(Debug, Clone, Default)]
pub struct SubscriberTally {
    /// One past the highest sequence seen, per publisher.
    high_water: Vec<u64>,
    /// First delivery of a message sent after fault `i` (clock ns), 0 until then.
    first_after: Vec<u64>,
    /// Charges per epoch: index 0 is before any fault, `i + 1` after fault `i`.
    missing: Vec<i64>,
    duplicated: Vec<u64>,
    last_missing: i64,
    last_duplicated: u64,
    /// Distinct messages received so far, all publishers.
    unique: u64,
    /// Extra copies received so far.
    copies: u64,
    /// Its churn cuts, and when it was live again after each.
    cuts: CutTally,
}

impl SubscriberTally {
    /// A tally for a run with `publishers` publishers and `faults` faults.
    pub fn new(publishers: u32, faults: usize) -> SubscriberTally {
        SubscriberTally {
            high_water: vec![0; publishers as usize],
            first_after: vec![0; faults],
            missing: vec![0; faults + 1],
            duplicated: vec![0; faults + 1],
            ..Default::default()
        }
    }

    /// Its churn cuts and when it was live again after each.
    pub fn cuts(&self) -> &CutTally {
        &self.cuts
    }

    /// When it first received a message sent after fault `i` took effect, clock ns.
    pub fn first_after(&self, i: usize) -> Option<u64> {
        self.first_after.get(i).copied().filter(|&v| v != 0)
    }

    /// The same tally, for a subscriber that churn cuts at `cuts` (clock ns).
    pub fn with_cuts(mut self, cuts: Vec<u64>) -> SubscriberTally {
        self.cuts = CutTally::new(cuts);
        self
    }

    /// The observer of one delivery unit received at `now_ns`: handed to the recorder, which
    /// tells it of each message as it audits it.
    pub fn unit<'a>(&'a mut self, tracker: &'a FaultTracker, now_ns: u64) -> TallyUnit<'a> {
        TallyUnit {
            epoch: tracker.fired(),
            tally: self,
            tracker,
            now_ns,
        }
    }

    /// Charges the never-delivered tail (`published[p]` for each publisher `p` this
    /// subscriber listens to, beyond its high-water mark) to the last fault that fired.
    pub fn finish(&mut self, published: &[(usize, u64)], fired: usize) {
        let tail: u64 = published
            .iter()
            .map(|&(p, n)| n.saturating_sub(self.high_water.get(p).copied().unwrap_or(0)))
            .sum();
        if let Some(m) = self.missing.get_mut(fired) {
            *m += tail as i64;
        }
    }
}

/// One delivery unit as a subscriber's tally sees it: the recorder's audit of each message,
/// and at the end of the unit, the change in missing and duplicated messages charged to the
/// latest fault fired when the unit began.
#[derive(Debug)]
pub struct TallyUnit<'a> {
    tally: &'a mut SubscriberTally,
    tracker: &'a FaultTracker,
    epoch: usize,
    now_ns: u64,
}

impl Observe for TallyUnit<'_> {
    fn arrived(&mut self, env: &Envelope, arrival: Arrival) {
        // No check per message for a run without faults: the receive loop does not listen
        // with a tally then (`clients::record`), and counting here is harmless if it did.
        let t = &mut *self.tally;
        if let Some(hw) = t.high_water.get_mut(env.publisher as usize) {
            *hw = (*hw).max(env.seq + 1);
        }
        t.cuts.arrived(env.sent_ns, self.now_ns);
        for (i, first) in t.first_after.iter_mut().enumerate().take(self.epoch) {
            let fired = self.tracker.fired_ns[i].load(Ordering::SeqCst);
            if *first == 0 && fired != 0 && env.sent_ns >= fired {
                *first = self.now_ns;
            }
        }
        match arrival {
            Arrival::Duplicate => t.copies += 1,
            Arrival::Fresh | Arrival::Reordered => t.unique += 1,
        }
    }

    fn unit_done(&mut self) {
        if self.tracker.is_empty() {
            return;
        }
        let t = &mut *self.tally;
        let seen: u64 = t.high_water.iter().sum();
        let missing = seen as i64 - t.unique as i64;
        t.missing[self.epoch] += missing - t.last_missing;
        t.duplicated[self.epoch] += t.copies - t.last_duplicated;
        t.last_missing = missing;
        t.last_duplicated = t.copies;
    }
}

/// The per-fault results of a run; `log` is the subscribers' connections, `end_ns` when the
/// run's accounting ended.
pub fn results(
    fired: &[Fired],
    tallies: &[SubscriberTally],
    (end_counters, end_ns): (&BTreeMap<String, u64>, u64),
    log: &StormLog,
) -> Vec<FaultResult> {
    let reconnect_sum = |c: &BTreeMap<String, u64>| -> u64 {
        c.iter()
            .filter(|(k, _)| is_reconnect_counter(k))
            .map(|(_, v)| v)
            .sum()
    };
    fired
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let next = fired
                .get(i + 1)
                .filter(|n| n.fired_ns.is_some())
                .map_or(end_counters, |n| &n.counters);
            let mut recovery = None;
            let mut unrecovered = 0;
            if let Some(at) = f.fired_ns {
                for t in tallies {
                    match t.first_after.get(i).copied().filter(|&v| v != 0) {
                        Some(first) => {
                            let r = first.saturating_sub(at);
                            recovery = Some(recovery.map_or(r, |x: u64| x.max(r)));
                        }
                        None => unrecovered += 1,
                    }
                }
            }
            let lost: i64 = tallies.iter().map(|t| t.missing[i + 1]).sum();
            let until = fired.get(i + 1).and_then(|n| n.fired_ns).unwrap_or(end_ns);
            let mut r = FaultResult {
                kind: f.fault.kind,
                at_secs: f.fault.at.as_secs_f64(),
                duration_secs: f.fault.duration.as_secs_f64(),
                target: effective_target(f.fault.target, f.fault.kind),
                fired: f.fired_ns.is_some(),
                recovery_ns: recovery,
                unrecovered_subscribers: unrecovered,
                reconnects: if f.fired_ns.is_some() {
                    reconnect_sum(next).saturating_sub(reconnect_sum(&f.counters))
                } else {
                    0
                },
                lost: lost.max(0) as u64,
                duplicated: tallies.iter().map(|t| t.duplicated[i + 1]).sum(),
                error: f.error.clone(),
                reconvergence: None,
                connect_attempts: None,
                connect_failures: None,
                connections: None,
                accepts_per_sec_peak: None,
                handshake_bytes: None,
                publisher_connect_attempts: None,
                publisher_connect_failures: None,
                publisher_connections: None,
            };
            if let Some(at) = f.fired_ns {
                r.reconvergence = Some(reconvergence(i, f, at, tallies));
                storm::connection_figures(&mut r, (&f.counters, next), (at, until), log);
                let later = fired
                    .get(i + 1)
                    .filter(|n| n.fired_ns.is_some())
                    .map_or(log.handshake_bytes_end, |n| n.handshake_bytes);
                r.handshake_bytes = Some(later.saturating_sub(f.handshake_bytes));
            }
            r
        })
        .collect()
}

/// Re-convergence of fault `i` (which fired at `at`): for a churn, each cut inside its window
/// until its subscriber was live again; otherwise each subscriber, from the fault.
fn reconvergence(i: usize, f: &Fired, at: u64, tallies: &[SubscriberTally]) -> Reconvergence {
    let times: Vec<Option<u64>> = match f.fault.kind {
        FaultKind::Churn => {
            let end = f.scheduled_ns + f.fault.duration.as_nanos() as u64;
            tallies
                .iter()
                .flat_map(|t| t.cuts().outages(f.scheduled_ns, end).collect::<Vec<_>>())
                .collect()
        }
        _ => tallies
            .iter()
            .map(|t| t.first_after(i).map(|first| first.saturating_sub(at)))
            .collect(),
    };
    Reconvergence::of(times)
}

/// Per-fault results of a finished run: each subscriber's never-delivered tail (`tallies` are
/// by subscriber id) is charged to the last fault that fired, then [`results`] attributes the
/// rest.
pub fn results_for_run(
    fired: &[Fired],
    tallies: Vec<(usize, SubscriberTally)>,
    (published, topics): (&[u64], u32),
    counters: &Counters,
    log: &StormLog,
) -> Vec<FaultResult> {
    if fired.is_empty() {
        return Vec::new();
    }
    let fired_count = fired.iter().filter(|f| f.fired_ns.is_some()).count();
    let tallies: Vec<SubscriberTally> = tallies
        .into_iter()
        .map(|(i, mut t)| {
            let mine: Vec<(usize, u64)> = published
                .iter()
                .enumerate()
                .filter(|&(p, _)| shares_topic(p as u32, i as u32, topics))
                .map(|(p, &n)| (p, n))
                .collect();
            t.finish(&mine, fired_count);
            t
        })
        .collect();
    results(
        fired,
        &tallies,
        (&counters.counter_values(), clock::now_ns()),
        log,
    )
}

/// Handshake bytes both ways in a snapshot.
pub fn handshake_bytes(w: &transport_core::WireSnapshot) -> u64 {
    w.handshake_read + w.handshake_written
}

/// Counters that count reconnect attempts or retries, whatever the transport calls them.
fn is_reconnect_counter(name: &str) -> bool {
    name.contains("reconnect") || name.contains("retries") || name == "poll_errors"
}

/// Only resets and churns pick a side; a blackhole and a restart hit everyone.
fn effective_target(target: FaultTarget, kind: FaultKind) -> FaultTarget {
    match kind {
        FaultKind::ResetConnections | FaultKind::Churn => target,
        _ => FaultTarget::All,
    }
}

/// What firing a fault produced, before per-fault accounting.
#[derive(Debug, Clone)]
pub struct Fired {
    /// The fault.
    pub fault: Fault,
    /// When it fired ([`clock`] ns); `None` if the run ended first.
    pub fired_ns: Option<u64>,
    /// When it was scheduled to fire (clock ns): a churn's cuts count from here.
    pub scheduled_ns: u64,
    /// Transport counters at the moment it fired.
    pub counters: BTreeMap<String, u64>,
    /// The subscribers' handshake bytes (both directions) at the moment it fired.
    pub handshake_bytes: u64,
    /// Why it could not be carried out, if it could not.
    pub error: Option<String>,
}

/// Fires `faults` in time order, each at `measure_start_ns + at`, until `stop` is cancelled.
pub async fn fire<T: Transport>(
    faults: Vec<Fault>,
    measure_start_ns: u64,
    proxy: Option<Arc<LinkProxy>>,
    server: Option<Restartable<T>>,
    tracker: Arc<FaultTracker>,
    (counters, wire): (Arc<Counters>, Arc<WireStats>),
    stop: tokio_util::sync::CancellationToken,
) -> Vec<Fired> {
    let mut out: Vec<Fired> = faults
        .iter()
        .map(|&fault| Fired {
            fault,
            fired_ns: None,
            scheduled_ns: measure_start_ns + fault.at.as_nanos() as u64,
            counters: BTreeMap::new(),
            handshake_bytes: 0,
            error: None,
        })
        .collect();
    for (i, fired) in out.iter_mut().enumerate() {
        let at = clock::instant_at(measure_start_ns + fired.fault.at.as_nanos() as u64);
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(at.into()) => {}
        }
        let now = clock::now_ns();
        fired.fired_ns = Some(now);
        fired.counters = counters.counter_values();
        fired.handshake_bytes = handshake_bytes(&wire.snapshot());
        let proxy = proxy.as_deref();
        match (fired.fault.kind, proxy) {
            (FaultKind::ResetConnections, Some(proxy)) => {
                tracker.fire(i, now);
                match fired.fault.target {
                    FaultTarget::All => proxy.cut_all(),
                    FaultTarget::Subscribers => proxy.cut(Side::Subscribers),
                    FaultTarget::Publishers => proxy.cut(Side::Publishers),
                }
            }
            (FaultKind::Blackhole, Some(proxy)) => {
                tracker.fire(i, now);
                proxy.blackhole(fired.fault.duration);
            }
            (FaultKind::ResetConnections | FaultKind::Blackhole, None) => {
                tracker.fire(i, now);
                fired.error = Some("no link emulator in front of the server".into());
            }
            // The subscribers' own gates cut their connections on the churn's schedule.
            (FaultKind::Churn, _) => tracker.fire(i, now),
            (FaultKind::ServerRestart, _) => {
                // Recovery counts from the firing, but only a message sent once the old
                // server is gone can prove it: one sent while it shuts down may still be
                // delivered by it.
                tracker.fire_pending(i);
                let took_effect = || tracker.takes_effect(i, clock::now_ns());
                let how = (fired.fault.signal.unwrap_or_default(), fired.fault.duration);
                fired.error = match &server {
                    Some(s) => s.restart(how, proxy, took_effect).await.err(),
                    None => {
                        took_effect();
                        Some("the server is external; it cannot be restarted".into())
                    }
                };
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "faults_tests.rs"]
mod tests;
