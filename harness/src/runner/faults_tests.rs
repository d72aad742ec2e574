//! Tests of per-fault accounting: charges, recoveries and the pending restart.

use bytes::Bytes;

use super::*;
use crate::runner::recorder::{RunShared, SubscriberRecorder};

fn msg(seq: u64, sent_ns: u64) -> Bytes {
    Envelope {
        publisher: 0,
        seq,
        intended_ns: sent_ns,
        sent_ns,
    }
    .encode(64)
}

/// One subscriber of one publisher's messages, audited against `faults` faults.
struct Subscriber {
    tracker: FaultTracker,
    tally: SubscriberTally,
    rec: SubscriberRecorder,
}

impl Subscriber {
    fn new(faults: usize) -> Self {
        let shared = RunShared::new(0..u64::MAX, 1, 1, 64);
        Subscriber {
            tracker: FaultTracker::new(faults),
            tally: SubscriberTally::new(1, faults),
            rec: SubscriberRecorder::new(shared, 0),
        }
    }

    /// Delivers messages `seqs` of publisher 0, all sent at `sent`, as one unit at `now`.
    fn deliver(&mut self, seqs: impl IntoIterator<Item = u64>, sent: u64, now: u64) {
        let msgs: Vec<Bytes> = seqs.into_iter().map(|s| msg(s, sent)).collect();
        let mut tally = self.tally.unit(&self.tracker, now);
        self.rec.on_unit_observed(&msgs, now, &mut tally);
    }
}

fn fired(at_ns: u64) -> Fired {
    Fired {
        fault: Fault {
            at: std::time::Duration::from_secs(1),
            kind: FaultKind::ResetConnections,
            duration: std::time::Duration::ZERO,
            target: FaultTarget::All,
            signal: None,
            churn: None,
        },
        fired_ns: Some(at_ns),
        scheduled_ns: at_ns,
        counters: BTreeMap::from([("reconnects".to_owned(), 1)]),
        handshake_bytes: 0,
        error: None,
    }
}

/// Gaps, late fills, duplicates and the undelivered tail land on the fault current when
/// the audit noticed them, and add up to the run's loss.
#[test]
fn charges_follow_the_latest_fault_and_add_up() {
    let mut sub = Subscriber::new(2);
    sub.deliver(0..10, 10, 10);
    sub.tracker.fire(0, 100);
    // Sent before the fault: not a recovery.
    sub.deliver(12..20, 50, 110);
    sub.deliver([5], 120, 130);
    sub.tracker.fire(1, 200);
    sub.deliver([10], 150, 210);
    sub.deliver([25], 250, 260);
    sub.tally.finish(&[(0, 30)], 2);

    let fired = [fired(100), fired(200)];
    let end = BTreeMap::from([("reconnects".to_owned(), 4)]);
    let r = results(&fired, &[sub.tally], (&end, 300), &StormLog::default());
    assert_eq!(
        (r[0].lost, r[0].duplicated),
        (2, 1),
        "gap 10..12 and one copy of 5"
    );
    assert_eq!(
        (r[1].lost, r[1].duplicated),
        (8, 0),
        "-1 late fill, gap 20..25, tail 26..30"
    );
    assert_eq!(r[0].lost + r[1].lost, sub.rec.audits[0].finish(30).lost);
    assert_eq!(
        r[0].recovery_ns,
        Some(30),
        "message 5 was the first sent after fault 0"
    );
    assert_eq!(r[1].recovery_ns, Some(60));
    assert_eq!((r[0].reconnects, r[1].reconnects), (0, 3));
}

/// A restart fires before the old server is down; a message sent in between and
/// delivered by the old server is not its recovery, though its losses count against it.
#[test]
fn a_pending_fault_is_recovered_only_by_messages_sent_after_it_took_effect() {
    let mut sub = Subscriber::new(1);
    sub.deliver([0, 1], 10, 20);
    sub.tracker.fire_pending(0);
    // Sent after the fault fired (100), delivered by the server still shutting down.
    sub.deliver([2, 4], 110, 120);
    sub.tracker.takes_effect(0, 150);
    sub.deliver([5], 160, 500);
    sub.tally.finish(&[(0, 6)], 1);
    let r = results(
        &[fired(100)],
        &[sub.tally],
        (&BTreeMap::new(), 600),
        &StormLog::default(),
    );
    assert_eq!(r[0].recovery_ns, Some(400), "from firing to message 5");
    assert_eq!(
        r[0].lost, 1,
        "message 3, missed while the fault was pending"
    );
}

#[test]
fn reconnect_counters_by_name() {
    assert!(is_reconnect_counter("reconnects"));
    assert!(is_reconnect_counter("reconnect_failures"));
    assert!(is_reconnect_counter("publish_retries"));
    assert!(is_reconnect_counter("poll_errors"));
    assert!(!is_reconnect_counter("polls"));
}
