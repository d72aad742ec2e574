//! Topic incarnations across broker restarts on the same port: a memory broker's restarted
//! log is a new incarnation (new topic id), read from its start even when it already holds
//! more records than the old position; a file broker's log is the same incarnation, resumed
//! exactly. Also the other reset: a position below a truncated log's start.

use std::collections::BTreeMap;
use std::time::Duration;

use transport_core::{ClientContext, Publisher, ServerContext, Subscriber, Transport};

use super::util::*;
use crate::{CommitMode, PullLog, PullLogConfig, PullLogServer, Storage};

/// Who notices the restart first in group mode.
#[derive(Clone, Copy, PartialEq)]
enum First {
    /// No group, or whoever happens to (the fetch connection, with slow heartbeats).
    Anyone,
    /// The group task: the test waits for its rejoin before the subscriber fetches again.
    GroupTask,
}

/// Stops `server` and starts a broker for `config` on the same address.
async fn restart(config: &PullLogConfig, server: PullLogServer, addr: &str) -> PullLogServer {
    bounded("shutdown", transport_core::ServerHandle::shutdown(server))
        .await
        .unwrap();
    let listener = bounded("rebind", tokio::net::TcpListener::bind(addr))
        .await
        .unwrap();
    bounded(
        "serve",
        PullLog::serve(config, listener, ServerContext::fresh()),
    )
    .await
    .unwrap()
}

/// The scenario every test here runs: a subscriber reads 0..20, the broker restarts on the same
/// port, 20..70 are published to the restarted broker *before* the subscriber fetches again
/// (so a memory broker's new log already reaches past the old position 20), and the subscriber
/// then reads. Returns what it read after the restart and its counters.
async fn read_across_restart(
    config: PullLogConfig,
    topic: &str,
    first: First,
) -> (Vec<u64>, BTreeMap<String, u64>) {
    let (server, addr) = broker(&config).await;
    let ctx = ClientContext::fresh(0);
    let mut sub = bounded(
        "subscribe",
        PullLog::subscriber(&config, &addr, topic, ctx.clone()),
    )
    .await
    .unwrap();
    let mut p = publisher(&config, &addr, topic, 0).await;
    publish(&mut p, 0, 0..20).await;
    assert_eq!(receive(&mut sub, 20).await, (0..20).collect::<Vec<_>>());

    let server = restart(&config, server, &addr).await;
    // The publisher reconnects by itself; everything it had was acknowledged before.
    publish(&mut p, 0, 20..70).await;
    if first == First::GroupTask {
        // The first assignment is number 1; a later one means the task rejoined the new broker.
        bounded("rejoin", sub.assignment_after(1)).await.unwrap();
    }
    let after = receive(&mut sub, 50).await;
    bounded("close", sub.close()).await.unwrap();
    bounded("close", p.close()).await.unwrap();
    bounded("shutdown", transport_core::ServerHandle::shutdown(server))
        .await
        .unwrap();
    (after, ctx.counters.counter_values())
}

fn fast_group(mut config: PullLogConfig, commit: CommitMode) -> PullLogConfig {
    config.group = Some("incarnations".into());
    config.commit = commit;
    config.heartbeat_interval = Duration::from_millis(100);
    config.fetch_max_wait = Duration::from_millis(100);
    config
}

fn file_config(dir: &std::path::Path) -> PullLogConfig {
    let mut c = config(1);
    c.broker.storage = Storage::File;
    c.broker.data_dir = Some(dir.to_owned());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_restart_with_a_longer_new_log_is_read_from_its_start() {
    let (after, counters) = read_across_restart(config(1), "reborn", First::Anyone).await;
    // The new log holds 20..70 at offsets 0..50. Resuming at the old position 20 would skip
    // 20..40 silently (the fetch is in range, so no out-of-range error would tell).
    assert_eq!(
        after,
        (20..70).collect::<Vec<_>>(),
        "every record, from offset 0"
    );
    assert_eq!(counters["epoch_resets"], 1, "{counters:?}");
    assert_eq!(counters["offset_resets"], 0, "{counters:?}");
    assert!(counters["subscriber_reconnects"] >= 1, "{counters:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_member_reads_a_longer_new_log_from_its_start() {
    // Once with the group task rejoining first (its own offsets are of the old log: dropped),
    // once with heartbeats too slow to notice before the subscriber's fetch connection does
    // (the subscriber resets its positions and the offsets it will commit).
    for (first, heartbeat_ms) in [(First::GroupTask, 100), (First::Anyone, 5_000)] {
        let mut config = fast_group(config(1), CommitMode::AfterBatch);
        config.heartbeat_interval = Duration::from_millis(heartbeat_ms);
        let (after, counters) = read_across_restart(config, "reborn-group", first).await;
        // Old offsets are neither resumed from nor committed to the new log: all of it arrives.
        assert_eq!(
            after,
            (20..70).collect::<Vec<_>>(),
            "heartbeat {heartbeat_ms} ms"
        );
        // The fetch connection and the group task may both notice; it is one restart.
        assert_eq!(counters["epoch_resets"], 1, "{counters:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_restart_keeps_the_incarnation_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (after, counters) =
        read_across_restart(file_config(dir.path()), "kept", First::Anyone).await;
    assert_eq!(
        after,
        (20..70).collect::<Vec<_>>(),
        "nothing lost or repeated"
    );
    assert_eq!(counters["epoch_resets"], 0, "{counters:?}");
    assert_eq!(counters["offset_resets"], 0, "{counters:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_member_resumes_its_own_position_in_the_same_incarnation() {
    // The coordinator keeps commits in memory, so the restart loses them; with commits off the
    // group only ever pinned offset 0. The member's own position is trusted because the topic
    // id proves the log is the same one, so nothing is read twice.
    let dir = tempfile::tempdir().unwrap();
    let config = fast_group(file_config(dir.path()), CommitMode::None);
    let (after, counters) = read_across_restart(config, "kept-group", First::GroupTask).await;
    assert_eq!(
        after,
        (20..70).collect::<Vec<_>>(),
        "nothing lost or repeated"
    );
    assert_eq!(counters["epoch_resets"], 0, "{counters:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_below_a_truncated_log_restarts_at_its_start() {
    let mut config = config(1);
    // Retention keeps only the newest batch.
    config.broker.retention_bytes = 1;
    let (server, addr) = broker(&config).await;
    let ctx = ClientContext::fresh(0);
    let mut sub = bounded(
        "subscribe",
        PullLog::subscriber(&config, &addr, "short", ctx.clone()),
    )
    .await
    .unwrap();
    let mut p = publisher(&config, &addr, "short", 0).await;
    for seq in 0..10 {
        // One flush per message: one batch each, so retention drops all but the last.
        publish(&mut p, 0, seq..seq + 1).await;
    }
    assert_eq!(receive(&mut sub, 1).await, vec![9]);
    let counters = ctx.counters.counter_values();
    assert_eq!(counters["offset_resets"], 1, "{counters:?}");
    assert_eq!(counters["epoch_resets"], 0, "{counters:?}");
    bounded("close", sub.close()).await.unwrap();
    bounded("close", p.close()).await.unwrap();
    bounded("shutdown", transport_core::ServerHandle::shutdown(server))
        .await
        .unwrap();
}
