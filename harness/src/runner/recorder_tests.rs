use super::*;

fn shared() -> Arc<RunShared> {
    RunShared::new(1_000_000_000..3_000_000_000, 2, 2, 40)
}

fn msg(seq: u64, intended_ns: u64) -> Bytes {
    Envelope {
        publisher: 0,
        seq,
        intended_ns,
        sent_ns: intended_ns + 10,
    }
    .encode(40)
}

#[test]
fn warmup_is_audited_not_recorded() {
    let s = shared();
    let mut r = SubscriberRecorder::new(s.clone(), 0);
    r.on_unit(&[msg(0, 500_000_000), msg(1, 1_200_000_000)], 1_200_050_000);
    r.on_unit(&[], 1_300_000_000);
    r.on_unit(
        &[msg(1, 1_200_000_000), Bytes::from_static(b"short")],
        2_500_000_000,
    );
    r.flush();
    let latency = s.latencies().latency;
    assert_eq!(
        latency.len(),
        1,
        "only the measured-window message is recorded"
    );
    assert_eq!(latency.max(), latency.highest_equivalent(50_000));
    assert_eq!(r.audits[0].finish(2).delivered, 2);
    assert_eq!((r.empty_units, r.corrupt, r.units.len()), (1, 1, 2));
    assert_eq!(s.delivered_total.load(Relaxed), 2);
    assert_eq!(s.intervals()[0].len(), 1);
}

/// Samples reach the shared histograms whether the buffer filled, the second changed or the
/// subscriber flushed at the end, each in the second it was received.
#[test]
fn buffered_samples_all_reach_their_second() {
    let s = shared();
    let mut r = SubscriberRecorder::new(s.clone(), 0);
    // Each with its own intended time, as in open loop: no two samples merge.
    let first: Vec<Bytes> = (0..PENDING_SAMPLES as u64 + 44)
        .map(|seq| msg(seq, 1_100_000_000 + seq))
        .collect();
    r.on_unit(&first, 1_200_000_000);
    r.on_unit(&[msg(1_000, 2_100_000_000)], 2_200_000_000);
    r.flush();
    let intervals: Vec<u64> = s.intervals().iter().map(|h| h.len()).collect();
    assert_eq!(intervals, vec![first.len() as u64, 1]);
    let all = s.latencies();
    assert_eq!(
        (all.latency.len(), all.from_send.len()),
        (first.len() as u64 + 1, first.len() as u64 + 1)
    );
}

/// A closed-loop batch (one stamp) arriving in one unit is one sample with its count; the
/// histograms still hold every message, at its own latency.
#[test]
fn equal_latencies_in_a_row_are_one_sample_with_a_count() {
    let s = shared();
    let mut r = SubscriberRecorder::new(s.clone(), 0);
    let mut unit: Vec<Bytes> = (0..64).map(|seq| msg(seq, 1_100_000_000)).collect();
    unit.push(msg(64, 1_150_000_000));
    unit.push(msg(65, 1_100_000_000));
    r.on_unit(&unit, 1_200_000_000);
    assert_eq!(
        r.pending.len(),
        3,
        "64 equal, then two that differ from their neighbour"
    );
    assert_eq!(r.pending[0].count, 64);
    r.flush();
    let all = s.latencies();
    assert_eq!((all.latency.len(), all.from_send.len()), (66, 66));
    assert_eq!(
        all.latency.count_at(100_000_000),
        65,
        "65 messages 100 ms late"
    );
}

/// Two subscribers of one shard in different seconds: the one behind adds to the second it
/// is in, not to the shard's, and the window's total is every second's sum.
#[test]
fn a_subscriber_behind_its_shard_adds_to_its_own_second() {
    let s = shared();
    let (mut ahead, mut behind) = (
        SubscriberRecorder::new(s.clone(), 0),
        SubscriberRecorder::new(s.clone(), LATENCY_SHARDS as u32),
    );
    behind.on_unit(&[msg(0, 1_100_000_000)], 1_200_000_000);
    ahead.on_unit(&[msg(1, 2_100_000_000)], 2_200_000_000);
    ahead.flush();
    behind.flush();
    ahead.on_unit(&[msg(2, 2_300_000_000)], 2_400_000_000);
    ahead.flush();
    let intervals: Vec<u64> = s.intervals().iter().map(|h| h.len()).collect();
    assert_eq!(intervals, vec![1, 2]);
    let all = s.latencies();
    assert_eq!((all.latency.len(), all.from_send.len()), (3, 3));
}

#[test]
fn damaged_and_misrouted_messages_are_not_deliveries() {
    let s = shared();
    let mut r = SubscriberRecorder::new(s.clone(), 0);
    let env = |publisher, seq| Envelope {
        publisher,
        seq,
        intended_ns: 1_500_000_000,
        sent_ns: 1_500_000_000,
    };
    let wrong_topic = env(1, 0).encode(40);
    let truncated = env(0, 0).encode(39);
    let absurd_seq = env(0, u64::MAX).encode(40);
    r.on_unit(
        &[wrong_topic, truncated, absurd_seq, env(0, 0).encode(40)],
        1_600_000_000,
    );
    assert_eq!((r.misrouted, r.corrupt, r.unique()), (1, 2, 1));
    assert_eq!(s.delivered_total.load(Relaxed), 1);
}
