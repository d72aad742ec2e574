//! Interop with a real Kafka client: `kcat` (librdkafka) produces to and consumes from the
//! broker, including as a `-G` group consumer. Without kcat (`apt-get install -y kcat`) each
//! test prints one skip line, or fails under `TRANSPORT_BENCH_REQUIRE_PEERS=1`.

use std::collections::BTreeSet;

use crate::common::*;
use transport_pull_log_broker::BrokerConfig;
use transport_test_support::{kcat, lines, peers};

/// librdkafka's idempotent producer: InitProducerId at the version it picks, then sequenced
/// batches the broker accepts in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_produces_idempotently() {
    if !peers::present(&peers::KCAT) {
        return;
    }
    let (broker, _ctx) = start(BrokerConfig::default()).await;
    let addr = broker.local_addr().to_string();
    for round in ["a", "b"] {
        let input = format!("{round}-1\n{round}-2\n{round}-3\n");
        kcat(
            &[
                "-b",
                &addr,
                "-P",
                "-t",
                "idem",
                "-X",
                "enable.idempotence=true",
            ],
            &input,
        )
        .await;
    }
    let out = kcat(
        &[
            "-b",
            &addr,
            "-C",
            "-t",
            "idem",
            "-o",
            "beginning",
            "-e",
            "-q",
        ],
        "",
    )
    .await;
    assert_eq!(lines(&out), ["a-1", "a-2", "a-3", "b-1", "b-2", "b-3"]);
    // The batches really are sequenced: kcat got producer ids from InitProducerId.
    let mut c = Conn::connect(&broker).await;
    let r: kafka_protocol::messages::FetchResponse = c
        .request(
            kafka_protocol::messages::ApiKey::Fetch,
            11,
            &fetch_req("idem", 0, 0, 1),
        )
        .await;
    let mut records = r.responses[0].partitions[0].records.clone().unwrap();
    let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut records).unwrap();
    let ids: BTreeSet<(i64, i32)> = sets
        .iter()
        .flat_map(|s| &s.records)
        .map(|r| (r.producer_id, r.sequence))
        .collect();
    assert!(
        ids.iter().all(|&(pid, seq)| pid >= 0 && seq >= 0),
        "{ids:?}"
    );
    assert_eq!(ids.len(), 6);
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_produces_and_consumes_with_every_acks_setting() {
    if !peers::present(&peers::KCAT) {
        return;
    }
    let (broker, ctx) = start(BrokerConfig::default()).await;
    let addr = broker.local_addr().to_string();
    for acks in ["0", "1", "all"] {
        let input = format!("{acks}-a\n{acks}-b\n");
        let acks_opt = format!("acks={acks}");
        kcat(
            &["-b", &addr, "-P", "-t", "interop", "-X", &acks_opt],
            &input,
        )
        .await;
    }
    let out = kcat(
        &[
            "-b",
            &addr,
            "-C",
            "-t",
            "interop",
            "-o",
            "beginning",
            "-e",
            "-q",
        ],
        "",
    )
    .await;
    assert_eq!(lines(&out), ["0-a", "0-b", "1-a", "1-b", "all-a", "all-b"]);
    let listing = kcat(&["-b", &addr, "-L"], "").await;
    assert!(
        listing.contains(&format!("broker 0 at {addr}")),
        "{listing}"
    );
    assert!(ctx.counters.counter_values()["server_produce_requests"] >= 3);
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_group_consumers_share_partitions_and_resume_from_commits() {
    if !peers::present(&peers::KCAT) {
        return;
    }
    let config = BrokerConfig {
        partitions_per_topic: 2,
        ..BrokerConfig::default()
    };
    let (broker, ctx) = start(config).await;
    let addr = broker.local_addr().to_string();
    let input: String = (0..40).map(|i| format!("k{i}:v{i}\n")).collect();
    kcat(&["-b", &addr, "-P", "-t", "grouped", "-K", ":"], &input).await;
    let expected: BTreeSet<String> = (0..40).map(|i| format!("v{i}")).collect();

    // Two group consumers at once; together they see every record.
    let group = [
        "-b",
        &addr,
        "-G",
        "kgroup",
        "-o",
        "beginning",
        "-e",
        "-q",
        "grouped",
    ];
    let (a, b) = tokio::join!(kcat(&group, ""), kcat(&group, ""));
    let seen: BTreeSet<String> = lines(&a).into_iter().chain(lines(&b)).collect();
    assert_eq!(seen, expected);
    assert!(ctx.counters.counter_values()["server_rebalances"] >= 2);

    // Committed offsets: a new group member without -o resumes after everything consumed.
    kcat(
        &["-b", &addr, "-P", "-t", "grouped", "-K", ":"],
        "late:late\n",
    )
    .await;
    let rest = kcat(&["-b", &addr, "-G", "kgroup", "-e", "-q", "grouped"], "").await;
    assert_eq!(lines(&rest), ["late"]);
    broker.shutdown().await.unwrap();
}
