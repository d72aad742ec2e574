//! Consumer groups: committed offsets outlive a client, and a member leaving hands its
//! partitions to the others without loss.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::sync::mpsc;
use transport_core::{Publisher, ServerHandle, Subscriber};

use super::util::*;
use crate::{CommitMode, PullLogConfig};

fn group_config(partitions: u32, commit: CommitMode) -> PullLogConfig {
    let mut c = config(partitions);
    c.group = Some("g".into());
    c.commit = commit;
    c.fetch_max_wait = Duration::from_millis(100);
    c.heartbeat_interval = Duration::from_millis(100);
    c.session_timeout = Duration::from_secs(5);
    c.rebalance_timeout = Duration::from_secs(5);
    c
}

/// Receives on `rx` until every (publisher, seq) in `want` has arrived; returns all arrivals.
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<(usize, u32, u64)>,
    want: &BTreeSet<(u32, u64)>,
) -> Vec<(usize, u32, u64)> {
    let mut got = Vec::new();
    let mut seen = BTreeSet::new();
    while !want.is_subset(&seen) {
        let m = bounded("collect", rx.recv()).await.expect("readers alive");
        seen.insert((m.1, m.2));
        got.push(m);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_a_client_restart() {
    let config = group_config(1, CommitMode::AfterBatch);
    let (server, addr) = broker(&config).await;
    let mut p = publisher(&config, &addr, "restart", 0).await;

    let mut first = subscriber(&config, &addr, "restart", 0).await;
    publish(&mut p, 0, 0..10).await;
    let mut got = Vec::new();
    while got.len() < 10 {
        bounded("recv", first.recv(&mut got)).await.unwrap();
    }
    bounded("close", first.close()).await.unwrap();

    // Published while no member is running: a restarted member must resume at 10, not at the
    // log end (which would skip these) and not at 0 (which would repeat the first ten).
    publish(&mut p, 0, 10..20).await;
    let mut second = subscriber(&config, &addr, "restart", 1).await;
    let mut seqs = Vec::new();
    let mut buf = Vec::new();
    while seqs.len() < 10 {
        buf.clear();
        bounded("recv", second.recv(&mut buf)).await.unwrap();
        seqs.extend(
            buf.iter()
                .map(|m| transport_core::Envelope::decode(m).unwrap().seq),
        );
    }
    assert_eq!(seqs, (10..20).collect::<Vec<_>>());
    bounded("close", second.close()).await.unwrap();
    bounded("close", p.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_leaving_triggers_a_rebalance_without_loss() {
    const PARTITIONS: u32 = 4;
    const HALF: u64 = 50;
    let config = group_config(PARTITIONS, CommitMode::Auto);
    let (server, addr) = broker(&config).await;
    // One publisher per partition, so every partition carries data.
    let mut pubs = Vec::new();
    for i in 0..PARTITIONS {
        pubs.push(publisher(&config, &addr, "rebalance", i).await);
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let a = Reader::spawn(
        subscriber(&config, &addr, "rebalance", 0).await,
        0,
        tx.clone(),
    );
    let b = Reader::spawn(
        subscriber(&config, &addr, "rebalance", 1).await,
        1,
        tx.clone(),
    );

    for (i, p) in pubs.iter_mut().enumerate() {
        publish(p, i as u32, 0..HALF).await;
    }
    let want: BTreeSet<(u32, u64)> = (0..PARTITIONS)
        .flat_map(|p| (0..HALF).map(move |s| (p, s)))
        .collect();
    let mut got = collect(&mut rx, &want).await;
    let readers: BTreeSet<usize> = got.iter().map(|m| m.0).collect();
    assert_eq!(
        readers,
        BTreeSet::from([0, 1]),
        "both members must own partitions"
    );

    b.stop().await; // commits and leaves the group
    for (i, p) in pubs.iter_mut().enumerate() {
        publish(p, i as u32, HALF..2 * HALF).await;
    }
    let want: BTreeSet<(u32, u64)> = (0..PARTITIONS)
        .flat_map(|p| (0..2 * HALF).map(move |s| (p, s)))
        .collect();
    let rest = collect(
        &mut rx,
        &want
            .difference(&got.iter().map(|m| (m.1, m.2)).collect())
            .copied()
            .collect(),
    )
    .await;
    assert!(
        rest.iter().filter(|m| m.2 >= HALF).all(|m| m.0 == 0),
        "only the remaining member reads what was published after the leave"
    );
    got.extend(rest);

    let mut counts: BTreeMap<(u32, u64), usize> = BTreeMap::new();
    for m in &got {
        *counts.entry((m.1, m.2)).or_default() += 1;
    }
    assert_eq!(
        counts.keys().copied().collect::<BTreeSet<_>>(),
        want,
        "nothing lost"
    );
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    eprintln!("rebalance duplicates: {duplicates}");
    a.stop().await;
    for p in pubs {
        bounded("close", p.close()).await.unwrap();
    }
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_members_than_partitions_share_without_loss() {
    const MEMBERS: usize = 6;
    let config = group_config(2, CommitMode::Auto);
    let (server, addr) = broker(&config).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let started = std::time::Instant::now();
    let mut readers = Vec::new();
    for i in 0..MEMBERS {
        let sub = subscriber(&config, &addr, "crowd", i as u32).await;
        readers.push(Reader::spawn(sub, i, tx.clone()));
    }
    eprintln!("{MEMBERS} members joined in {:?}", started.elapsed());
    let mut pubs = Vec::new();
    for i in 0..2 {
        pubs.push(publisher(&config, &addr, "crowd", i).await);
    }
    for (i, p) in pubs.iter_mut().enumerate() {
        publish(p, i as u32, 0..100).await;
    }
    let want: BTreeSet<(u32, u64)> = (0..2).flat_map(|p| (0..100).map(move |s| (p, s))).collect();
    let got = collect(&mut rx, &want).await;
    let readers_used: BTreeSet<usize> = got.iter().map(|m| m.0).collect();
    assert_eq!(
        readers_used.len(),
        2,
        "one member per partition: {readers_used:?}"
    );
    assert_eq!(got.len(), want.len(), "no duplicates without a rebalance");
    for r in readers {
        r.stop().await;
    }
    for p in pubs {
        bounded("close", p.close()).await.unwrap();
    }
    bounded("shutdown", server.shutdown()).await.unwrap();
}
