//! Tests of the topic log and subscriber queues.

use super::*;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A `block` fan-out keeping `retain_bytes`, with queues of `capacity` messages.
fn fan(retain_bytes: usize, capacity: usize) -> Fanout {
    policy(
        retain_bytes,
        capacity,
        SlowConsumer::Block,
        &Counters::default(),
    )
}

fn policy(retain_bytes: usize, capacity: usize, slow: SlowConsumer, c: &Counters) -> Fanout {
    let config = RawTcpConfig {
        retain_bytes,
        queue_capacity: capacity,
        slow_consumer: slow,
        ..RawTcpConfig::default()
    };
    Fanout::new(&config, c)
}

fn msg(i: u8) -> Bytes {
    Bytes::from(vec![i; 8])
}

fn one(i: u8) -> Frames {
    Frames::encode(&[&msg(i)])
}

fn bodies(runs: &[Frames]) -> Vec<Bytes> {
    runs.iter().flat_map(Frames::bodies).collect()
}

/// The next queued messages (bounded wait).
async fn next(q: &mut Queued) -> Vec<Bytes> {
    let mut runs = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), q.recv_many(&mut runs, 8))
        .await
        .expect("something queued");
    assert!(n > 0, "queue dropped");
    bodies(&runs)
}

/// Appends message `i` from another task, which may wait for room.
fn append_in_background(topic: &Arc<Topic>, i: u8) -> tokio::task::JoinHandle<bool> {
    let topic = topic.clone();
    tokio::spawn(async move {
        let never = CancellationToken::new();
        let cancelled = never.cancelled();
        tokio::pin!(cancelled);
        topic
            .append(&one(i), &fan(1 << 20, 8), &mut cancelled)
            .await
    })
}

#[tokio::test]
async fn resumes_from_the_log_then_the_live_queue() {
    let topic = Topic::default();
    let never = CancellationToken::new();
    let cancelled = never.cancelled();
    tokio::pin!(cancelled);
    for i in 0..5 {
        assert!(
            topic
                .append(&one(i), &fan(1 << 20, 8), &mut cancelled)
                .await
        );
    }
    let fresh = topic.subscribe(9, 0, 0, &fan(1 << 20, 8)).await.unwrap();
    assert_eq!((fresh.start, fresh.backlog.len()), (5, 0));
    let mut resumed = topic.subscribe(9, 9, 2, &fan(1 << 20, 8)).await.unwrap();
    assert_eq!(resumed.start, 2);
    assert_eq!(bodies(&resumed.backlog), vec![msg(2), msg(3), msg(4)]);
    assert!(
        topic
            .append(&one(5), &fan(1 << 20, 8), &mut cancelled)
            .await
    );
    assert_eq!(next(&mut resumed.queue).await, vec![msg(5)]);
    let restarted = topic.subscribe(9, 4, 100, &fan(1 << 20, 8)).await.unwrap();
    assert!(restarted.epoch_reset);
    assert_eq!((restarted.start, bodies(&restarted.backlog).len()), (0, 6));
    assert!(topic.subscribe(9, 9, 7, &fan(1 << 20, 8)).await.is_err());
}

#[tokio::test]
async fn a_resume_inside_a_run_of_messages_starts_at_the_exact_one() {
    let topic = Topic::default();
    let never = CancellationToken::new();
    let cancelled = never.cancelled();
    tokio::pin!(cancelled);
    let run = Frames::encode(&[&msg(0), b"longer body", &msg(2)]);
    assert!(topic.append(&run, &fan(1 << 20, 8), &mut cancelled).await);
    assert!(
        topic
            .append(&one(3), &fan(1 << 20, 8), &mut cancelled)
            .await
    );
    let s = topic.subscribe(9, 9, 1, &fan(1 << 20, 8)).await.unwrap();
    assert_eq!(s.start, 1);
    let want = [Bytes::from_static(b"longer body"), msg(2), msg(3)];
    assert_eq!(bodies(&s.backlog), want);
    // The backlog is still the wire format: frames a subscriber can be sent as they are.
    assert_eq!(s.backlog[0], Frames::encode(&[b"longer body", &msg(2)]));
}

#[tokio::test]
async fn retention_is_bounded_and_skips_are_counted() {
    let topic = Topic::default();
    let never = CancellationToken::new();
    let cancelled = never.cancelled();
    tokio::pin!(cancelled);
    let per = 8 + ENTRY_OVERHEAD;
    for i in 0..10 {
        assert!(
            topic
                .append(&one(i), &fan(3 * per, 8), &mut cancelled)
                .await
        );
    }
    let s = topic.subscribe(1, 1, 4, &fan(1 << 20, 8)).await.unwrap();
    assert_eq!((s.start, s.skipped), (7, 3));
    assert_eq!(bodies(&s.backlog), vec![msg(7), msg(8), msg(9)]);
}

#[tokio::test]
async fn retention_cuts_a_run_message_by_message() {
    let topic = Topic::default();
    let never = CancellationToken::new();
    let cancelled = never.cancelled();
    tokio::pin!(cancelled);
    let per = 8 + ENTRY_OVERHEAD;
    let run: Vec<Bytes> = (0..5).map(msg).collect();
    let refs: Vec<&[u8]> = run.iter().map(|b| &b[..]).collect();
    assert!(
        topic
            .append(&Frames::encode(&refs), &fan(3 * per, 8), &mut cancelled)
            .await
    );
    let s = topic.subscribe(1, 1, 0, &fan(1 << 20, 8)).await.unwrap();
    assert_eq!((s.start, s.skipped), (2, 2));
    assert_eq!(bodies(&s.backlog), vec![msg(2), msg(3), msg(4)]);
    // Even a budget below one message keeps the newest.
    assert!(
        topic
            .append(&Frames::encode(&refs), &fan(1, 8), &mut cancelled)
            .await
    );
    let s = topic.subscribe(1, 1, 0, &fan(1 << 20, 8)).await.unwrap();
    assert_eq!((s.start, bodies(&s.backlog)), (9, vec![msg(4)]));
}

#[tokio::test]
async fn an_epoch_reset_counts_what_the_new_incarnation_already_dropped() {
    let topic = Topic::default();
    let never = CancellationToken::new();
    let cancelled = never.cancelled();
    tokio::pin!(cancelled);
    for i in 0..10 {
        assert!(
            topic
                .append(&one(i), &fan(3 * (8 + ENTRY_OVERHEAD), 8), &mut cancelled)
                .await
        );
    }
    let s = topic.subscribe(1, 2, 4, &fan(1 << 20, 8)).await.unwrap();
    assert!(s.epoch_reset);
    assert_eq!((s.start, s.skipped, bodies(&s.backlog).len()), (7, 7, 3));
}

#[tokio::test]
async fn a_full_queue_does_not_keep_others_from_subscribing() {
    let topic = Arc::new(Topic::default());
    let mut stuck = topic.subscribe(1, 0, 0, &fan(1 << 20, 1)).await.unwrap();
    let never = CancellationToken::new();
    {
        let cancelled = never.cancelled();
        tokio::pin!(cancelled);
        assert!(
            topic
                .append(&one(0), &fan(1 << 20, 8), &mut cancelled)
                .await
        );
    }
    // The second message waits for the stuck queue...
    let waiting = append_in_background(&topic, 1);
    // ...without holding the topic: a new subscriber gets in meanwhile.
    let bound = Duration::from_secs(5);
    let mut other = tokio::time::timeout(bound, topic.subscribe(1, 0, 0, &fan(1 << 20, 8)))
        .await
        .expect("subscribe is not blocked by a full queue")
        .unwrap();
    assert_eq!(next(&mut stuck.queue).await, vec![msg(0)]);
    // Room comes back when the subscriber has written what it took, not before.
    stuck.queue.written(1, 12);
    assert!(tokio::time::timeout(bound, waiting).await.unwrap().unwrap());
    assert_eq!(next(&mut stuck.queue).await, vec![msg(1)]);
    // Subscribed before message 1 was appended: it gets it live.
    assert_eq!(other.start + other.backlog.len() as u64, 1);
    assert_eq!(next(&mut other.queue).await, vec![msg(1)]);
}

#[tokio::test]
async fn a_subscriber_that_leaves_releases_a_waiting_publisher() {
    let topic = Arc::new(Topic::default());
    let stuck = topic.subscribe(1, 0, 0, &fan(1 << 20, 1)).await.unwrap();
    let never = CancellationToken::new();
    let cancelled = never.cancelled();
    tokio::pin!(cancelled);
    assert!(
        topic
            .append(&one(0), &fan(1 << 20, 8), &mut cancelled)
            .await
    );
    let waiting = append_in_background(&topic, 1);
    drop(stuck);
    let done = tokio::time::timeout(Duration::from_secs(5), waiting).await;
    assert!(done.expect("not blocked by a queue nobody reads").unwrap());
}

fn gauge(c: &Counters, name: &str) -> i64 {
    c.gauge_values()[name].value
}

#[tokio::test]
async fn queue_and_log_gauges_follow_what_waits_and_what_is_kept() {
    use transport_core::occupancy::{QUEUED_BYTES, QUEUED_MESSAGES, RETAINED_MESSAGES};
    let c = Counters::default();
    let f = policy(3 * (8 + ENTRY_OVERHEAD), 8, SlowConsumer::Block, &c);
    let topic = Topic::default();
    let never = CancellationToken::new();
    let cancelled = never.cancelled();
    tokio::pin!(cancelled);
    let mut a = topic.subscribe(1, 0, 0, &f).await.unwrap();
    let b = topic.subscribe(1, 0, 0, &f).await.unwrap();
    for i in 0..5 {
        assert!(topic.append(&one(i), &f, &mut cancelled).await);
    }
    // Five messages wait for each of two subscribers, 12 bytes each as frames.
    assert_eq!(
        (gauge(&c, QUEUED_MESSAGES), gauge(&c, QUEUED_BYTES)),
        (10, 120)
    );
    assert_eq!(gauge(&c, RETAINED_MESSAGES), 3, "retention keeps three");
    assert_eq!(next(&mut a.queue).await.len(), 5);
    a.queue.written(5, 60);
    assert_eq!(gauge(&c, QUEUED_MESSAGES), 5);
    // A subscriber that leaves with a full queue takes its part out once the topic forgets it.
    drop(b);
    topic.prune();
    assert_eq!(
        (gauge(&c, QUEUED_MESSAGES), gauge(&c, QUEUED_BYTES)),
        (0, 0)
    );
    assert_eq!(c.gauge_values()[QUEUED_MESSAGES].peak, 10);
}

#[tokio::test]
async fn disconnect_drops_a_full_queue_instead_of_waiting() {
    let c = Counters::default();
    let f = policy(1 << 20, 2, SlowConsumer::Disconnect, &c);
    let topic = Topic::default();
    let never = CancellationToken::new();
    let cancelled = never.cancelled();
    tokio::pin!(cancelled);
    let stuck = topic.subscribe(1, 0, 0, &f).await.unwrap();
    let mut reader = topic.subscribe(1, 0, 0, &f).await.unwrap();
    let kicked = stuck.queue.kicked();
    for i in 0..2 {
        assert!(topic.append(&one(i), &f, &mut cancelled).await);
        assert_eq!(next(&mut reader.queue).await.len(), 1);
        reader.queue.written(1, 12);
    }
    assert!(!kicked.is_cancelled(), "two messages fit");
    // The third does not fit the stuck queue: no wait, the subscriber is dropped.
    let bound = Duration::from_secs(5);
    let third = one(2);
    let appended = tokio::time::timeout(bound, topic.append(&third, &f, &mut cancelled));
    assert!(appended.await.expect("disconnect never waits"));
    assert!(kicked.is_cancelled());
    assert_eq!(c.counter_values()["server_slow_consumer_disconnects"], 1);
    assert_eq!(c.counter_values()["server_publish_blocked_ns"], 0);
    assert_eq!(next(&mut reader.queue).await, vec![msg(2)]);
    // It resumes from the log where it stopped reading.
    let back = topic.subscribe(1, 1, 0, &f).await.unwrap();
    assert_eq!(bodies(&back.backlog), vec![msg(0), msg(1), msg(2)]);
}

#[tokio::test]
async fn time_blocked_on_a_full_queue_is_counted() {
    let c = Counters::default();
    let f = Arc::new(policy(1 << 20, 1, SlowConsumer::Block, &c));
    let topic = Arc::new(Topic::default());
    let mut stuck = topic.subscribe(1, 0, 0, &f).await.unwrap();
    {
        let never = CancellationToken::new();
        let cancelled = never.cancelled();
        tokio::pin!(cancelled);
        assert!(topic.append(&one(0), &f, &mut cancelled).await);
    }
    let (t, f2) = (topic.clone(), f.clone());
    let mut waiting = tokio::spawn(async move {
        let never = CancellationToken::new();
        let cancelled = never.cancelled();
        tokio::pin!(cancelled);
        t.append(&one(1), &f2, &mut cancelled).await
    });
    // The queue is full: the publisher is still waiting 20 ms later (were it not blocked, it
    // would have finished at once).
    let early = tokio::time::timeout(Duration::from_millis(20), &mut waiting).await;
    assert!(early.is_err(), "a full queue holds the publisher");
    assert_eq!(next(&mut stuck.queue).await, vec![msg(0)]);
    stuck.queue.written(1, 12);
    let done = tokio::time::timeout(Duration::from_secs(5), waiting).await;
    assert!(
        done.expect("room given back releases the publisher")
            .unwrap()
    );
    let blocked = c.counter_values()["server_publish_blocked_ns"];
    assert!(blocked >= 20_000_000, "blocked {blocked} ns");
}
