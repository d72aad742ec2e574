//! Interop with a real Kafka client: what our producer writes, `kcat` (librdkafka) reads, and
//! what kcat writes, our consumer reads. Without kcat (`apt-get install -y kcat`) each test
//! prints one skip line, or fails under `TRANSPORT_BENCH_REQUIRE_PEERS=1`.

use std::time::Duration;

use bytes::Bytes;
use transport_core::{Publisher, ServerHandle, Subscriber};
use transport_test_support::{kcat, peers};

use super::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_reads_what_our_producer_batches() {
    if !peers::present(&peers::KCAT) {
        return;
    }
    let mut config = config(1);
    config.linger = Duration::from_millis(5); // several records per batch
    let (server, addr) = broker(&config).await;
    let mut p = publisher(&config, &addr, "to-kcat", 0).await;
    let sent: Vec<String> = (0..20).map(|i| format!("m-{i}")).collect();
    for m in &sent {
        bounded("publish", p.publish(Bytes::from(m.clone())))
            .await
            .unwrap();
    }
    bounded("flush", p.flush()).await.unwrap();
    let out = kcat(
        &[
            "-b",
            &addr,
            "-C",
            "-t",
            "to-kcat",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%o %s\n",
        ],
        "",
    )
    .await;
    let expected: Vec<String> = sent
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{i} {m}"))
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), expected);
    bounded("close", p.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_consumer_reads_what_kcat_produces() {
    if !peers::present(&peers::KCAT) {
        return;
    }
    let config = config(1);
    let (server, addr) = broker(&config).await;
    let mut sub = subscriber(&config, &addr, "from-kcat", 0).await;
    kcat(
        &["-b", &addr, "-P", "-t", "from-kcat", "-k", "key"],
        "one\ntwo\nthree\n",
    )
    .await;
    let mut got = Vec::new();
    while got.len() < 3 {
        bounded("recv", sub.recv(&mut got)).await.unwrap();
    }
    let got: Vec<&[u8]> = got.iter().map(|b| &b[..]).collect();
    assert_eq!(got, vec![&b"one"[..], b"two", b"three"]);
    bounded("close", sub.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}
