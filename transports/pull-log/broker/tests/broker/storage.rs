//! File storage: a restarted broker keeps every acknowledged record and continues the offsets.

use crate::common::*;
use kafka_protocol::messages::*;
use transport_pull_log_broker::{BrokerConfig, Storage};

#[tokio::test]
async fn file_storage_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig {
        storage: Storage::File,
        data_dir: Some(dir.path().to_owned()),
        segment_bytes: 2048,
        partitions_per_topic: 2,
        ..BrokerConfig::default()
    };
    let (broker, _) = start(config.clone()).await;
    let mut c = Conn::connect(&broker).await;
    create(&mut c, "durable").await;
    for i in 0..20u32 {
        let v = format!("record-{i}").into_bytes();
        produce(&mut c, "durable", &[&v, &[7u8; 300]]).await;
    }
    broker.shutdown().await.unwrap();

    let (broker, _) = start(config).await;
    let mut c = Conn::connect(&broker).await;
    let mut all = MetadataRequest::default();
    all.topics = None;
    let md: MetadataResponse = c.request(ApiKey::Metadata, 4, &all).await;
    assert_eq!(md.topics.len(), 1);
    assert_eq!(md.topics[0].partitions.len(), 2);
    let mut offset = 0;
    let mut seen = Vec::new();
    while offset < 40 {
        let r: FetchResponse = c
            .request(ApiKey::Fetch, 12, &fetch_req("durable", offset, 0, 0))
            .await;
        let got = values(r.responses[0].partitions[0].records.as_ref().unwrap());
        assert!(!got.is_empty());
        for (o, v) in got {
            if o >= offset {
                seen.push((o, v));
            }
        }
        offset = seen.last().unwrap().0 + 1;
    }
    assert_eq!(seen.len(), 40);
    assert_eq!(seen[38].1, b"record-19".to_vec());
    assert_eq!(produce(&mut c, "durable", &[b"after restart"]).await, 40);
    broker.shutdown().await.unwrap();
}
