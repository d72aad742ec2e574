//! Fetch parking: a parked fetch returns as soon as `min_bytes` are there, or after
//! `max_wait_ms`, and shutdown releases it promptly. Plus offsets and byte limits.

use std::time::Duration;

use crate::common::*;
use kafka_protocol::messages::*;
use tokio::time::Instant;
use transport_pull_log_broker::BrokerConfig;

#[tokio::test]
async fn parked_fetch_returns_when_a_produce_arrives() {
    let (broker, ctx) = start(BrokerConfig::default()).await;
    let mut consumer = Conn::connect(&broker).await;
    let mut producer = Conn::connect(&broker).await;
    create(&mut producer, "park").await;
    let started = Instant::now();
    let cid = consumer
        .send(ApiKey::Fetch, 12, &fetch_req("park", 0, 8_000, 1))
        .await;
    // Produce once the fetch is parked (the counter says so), not after a sleep.
    let parked = ctx.counters.counter("server_parked_fetches");
    tokio::time::timeout(BOUND, async {
        while parked.get() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    assert_eq!(produce(&mut producer, "park", &[b"hello"]).await, 0);
    let (got, r): (i32, FetchResponse) = consumer.recv(ApiKey::Fetch, 12).await;
    assert_eq!(got, cid);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "woken by the produce, not the timeout"
    );
    let p = &r.responses[0].partitions[0];
    assert_eq!(
        values(p.records.as_ref().unwrap()),
        vec![(0, b"hello".to_vec())]
    );
    assert_eq!(p.high_watermark, 1);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn parked_fetch_waits_for_min_bytes_then_times_out() {
    let (broker, ctx) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    create(&mut c, "minb").await;
    produce(&mut c, "minb", &[b"small"]).await;
    // One small batch is below min_bytes: the fetch waits out max_wait, then returns it.
    let started = Instant::now();
    let r: FetchResponse = c
        .request(ApiKey::Fetch, 11, &fetch_req("minb", 0, 400, 1 << 20))
        .await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(380), "waited {waited:?}");
    assert!(waited < Duration::from_secs(5));
    assert_eq!(
        values(r.responses[0].partitions[0].records.as_ref().unwrap()).len(),
        1
    );
    // Nothing at all: an empty fetch after max_wait, counted as such.
    let r: FetchResponse = c
        .request(ApiKey::Fetch, 11, &fetch_req("minb", 1, 100, 1))
        .await;
    assert!(
        r.responses[0].partitions[0]
            .records
            .as_ref()
            .unwrap()
            .is_empty()
    );
    let counts = ctx.counters.counter_values();
    assert_eq!(counts["server_fetches"], 2);
    assert_eq!(counts["server_empty_fetches"], 1);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_releases_a_parked_fetch_promptly() {
    let (broker, ctx) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    create(&mut c, "stop").await;
    c.send(ApiKey::Fetch, 12, &fetch_req("stop", 0, 30_000, 1))
        .await;
    let parked = ctx.counters.counter("server_parked_fetches");
    tokio::time::timeout(BOUND, async {
        while parked.get() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    let started = Instant::now();
    broker.shutdown().await.unwrap();
    // Released by the shutdown, not by the fetch's 30 s wait: a third of that wait leaves
    // room for a loaded machine and still tells the two apart.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn dropping_the_handle_also_releases_parked_fetches() {
    let (broker, ctx) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    create(&mut c, "drop").await;
    c.send(ApiKey::Fetch, 12, &fetch_req("drop", 0, 30_000, 1))
        .await;
    let parked = ctx.counters.counter("server_parked_fetches");
    tokio::time::timeout(BOUND, async {
        while parked.get() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    let started = Instant::now();
    drop(broker);
    // The parked fetch is answered (or the connection closed) well before its 30 s wait.
    let _ = c.recv_frame().await;
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_disconnect_releases_its_parked_fetch() {
    let (broker, ctx) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    create(&mut c, "gone").await;
    c.send(ApiKey::Fetch, 12, &fetch_req("gone", 0, 30_000, 1))
        .await;
    let parked = ctx.counters.counter("server_parked_fetches");
    let abandoned = ctx.counters.counter("server_abandoned_requests");
    tokio::time::timeout(BOUND, async {
        while parked.get() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    drop(c);
    tokio::time::timeout(BOUND, async {
        while abandoned.get() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the parked fetch is released well before its 30 s max wait");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn offsets_limits_and_errors() {
    let (broker, _) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    create(&mut c, "lim").await;
    for i in 0..5u8 {
        let base = produce(&mut c, "lim", &[&[i; 100], &[i; 100]]).await;
        assert_eq!(base, i64::from(i) * 2);
    }
    // Fetch from the middle of a batch returns that batch; a small partition limit still
    // returns one whole batch.
    let mut req = fetch_req("lim", 3, 0, 0);
    req.topics[0].partitions[0].partition_max_bytes = 10;
    let r: FetchResponse = c.request(ApiKey::Fetch, 12, &req).await;
    let got = values(r.responses[0].partitions[0].records.as_ref().unwrap());
    assert_eq!(got.iter().map(|v| v.0).collect::<Vec<_>>(), vec![2, 3]);
    // Out of range and unknown topic.
    let r: FetchResponse = c
        .request(ApiKey::Fetch, 12, &fetch_req("lim", 99, 0, 0))
        .await;
    assert_eq!(r.responses[0].partitions[0].error_code, 1);
    let r: FetchResponse = c
        .request(ApiKey::Fetch, 12, &fetch_req("nope", 0, 0, 0))
        .await;
    assert_eq!(r.responses[0].partitions[0].error_code, 3);
    // ListOffsets: earliest and latest.
    let mut lo = ListOffsetsRequest::default();
    let mut t = list_offsets_request::ListOffsetsTopic::default();
    t.name = topic("lim");
    for ts in [-2, -1] {
        let mut p = list_offsets_request::ListOffsetsPartition::default();
        p.timestamp = ts;
        t.partitions.push(p);
    }
    lo.replica_id = BrokerId(-1);
    lo.topics = vec![t];
    let r: ListOffsetsResponse = c.request(ApiKey::ListOffsets, 2, &lo).await;
    let offsets: Vec<i64> = r.topics[0].partitions.iter().map(|p| p.offset).collect();
    assert_eq!(offsets, vec![0, 10]);
    broker.shutdown().await.unwrap();
}
