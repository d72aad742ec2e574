//! CreateTopics and auto-creation.

use crate::common::*;
use kafka_protocol::messages::*;
use transport_pull_log_broker::BrokerConfig;

fn creatable(
    name: &str,
    partitions: i32,
    replication: i16,
) -> create_topics_request::CreatableTopic {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = topic(name);
    t.num_partitions = partitions;
    t.replication_factor = replication;
    t
}

#[tokio::test]
async fn create_topics_validates_and_auto_create_can_be_disabled() {
    let config = BrokerConfig {
        auto_create_topics: false,
        ..BrokerConfig::default()
    };
    let (broker, _) = start(config).await;
    let mut c = Conn::connect(&broker).await;

    // Without auto-creation, unknown topics stay unknown for Metadata and Produce.
    let mut md = MetadataRequest::default();
    let mut t = metadata_request::MetadataRequestTopic::default();
    t.name = Some(topic("three"));
    md.topics = Some(vec![t]);
    md.allow_auto_topic_creation = true;
    let r: MetadataResponse = c.request(ApiKey::Metadata, 9, &md).await;
    assert_eq!(r.topics[0].error_code, 3);
    let r: ProduceResponse = c
        .request(
            ApiKey::Produce,
            9,
            &produce_req("three", 0, 1, batch(&[b"x"])),
        )
        .await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 3);

    let mut req = CreateTopicsRequest::default();
    req.timeout_ms = 1000;
    req.topics = vec![
        creatable("three", 3, -1),
        creatable("bad/name", 1, 1),
        creatable("replicated", 1, 3),
        creatable("zero", 0, 1),
    ];
    let r: CreateTopicsResponse = c.request(ApiKey::CreateTopics, 5, &req).await;
    let codes: Vec<i16> = r.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, vec![0, 17, 38, 37]);
    assert_eq!(r.topics[0].num_partitions, 3);
    // Creating it again: already exists.
    req.topics = vec![creatable("three", 3, 1)];
    let r: CreateTopicsResponse = c.request(ApiKey::CreateTopics, 7, &req).await;
    assert_eq!(r.topics[0].error_code, 36);

    let r: MetadataResponse = c.request(ApiKey::Metadata, 9, &md).await;
    assert_eq!(r.topics[0].error_code, 0);
    assert_eq!(r.topics[0].partitions.len(), 3);
    let r: ProduceResponse = c
        .request(
            ApiKey::Produce,
            9,
            &produce_req("three", 2, 1, batch(&[b"x"])),
        )
        .await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    let r: ProduceResponse = c
        .request(
            ApiKey::Produce,
            9,
            &produce_req("three", 3, 1, batch(&[b"x"])),
        )
        .await;
    assert_eq!(
        r.responses[0].partition_responses[0].error_code, 3,
        "no partition 3"
    );
    broker.shutdown().await.unwrap();
}
