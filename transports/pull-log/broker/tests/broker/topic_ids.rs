//! Topic ids (KIP-516): every topic incarnation gets a random non-nil id, reported by Metadata
//! v10+ and CreateTopics v7+; file storage keeps it across restarts, memory storage cannot.

use crate::common::*;
use kafka_protocol::messages::*;
use transport_pull_log_broker::{Broker, BrokerConfig, Storage};

/// The id Metadata v12 reports for `name` (creating the topic if needed).
async fn id_of(c: &mut Conn, name: &str) -> [u8; 16] {
    let mut t = metadata_request::MetadataRequestTopic::default();
    t.name = Some(topic(name));
    let mut r = MetadataRequest::default();
    r.topics = Some(vec![t]);
    r.allow_auto_topic_creation = true;
    let resp: MetadataResponse = c.request(ApiKey::Metadata, 12, &r).await;
    assert_eq!(resp.topics[0].error_code, 0);
    *resp.topics[0].topic_id.as_bytes()
}

/// One Metadata v12 request for topic `ids`, byte by byte, and its whole response frame.
async fn metadata_v12_frame(c: &mut Conn, correlation: u8) -> Vec<u8> {
    #[rustfmt::skip]
    let request: Vec<u8> = [
        &[0, 0, 0, 36][..],             // frame size
        &[0, 3, 0, 12],                 // api key 3 (Metadata), version 12
        &[0, 0, 0, correlation],        // correlation id
        &[0xff, 0xff],                  // client id: null (header v2 keeps an i16 length)
        &[0],                           // header tagged fields: none
        &[2],                           // topics: compact array of 1
        &[0; 16],                       //   topic id: nil (asking by name)
        &[4], b"ids",                   //   name: compact string "ids"
        &[0],                           //   tagged fields
        &[1],                           // allow auto topic creation
        &[0],                           // include topic authorized operations
        &[0],                           // tagged fields
    ]
    .concat();
    c.send_raw(&request).await;
    let mut frame = 0u32.to_be_bytes().to_vec();
    let body = c.recv_frame().await.expect("metadata response");
    frame[..4].copy_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

#[tokio::test]
async fn metadata_v12_golden_bytes_carry_a_stable_non_nil_topic_id() {
    let (broker, _) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    let first = metadata_v12_frame(&mut c, 1).await;
    let second = metadata_v12_frame(&mut c, 2).await;
    // The id is random: read it at its place in the layout below (byte 61) from the first
    // answer, then require every other byte exactly.
    let at = 61;
    let id: [u8; 16] = first[at..at + 16].try_into().unwrap();
    assert_ne!(id, [0; 16], "a real topic has a non-nil id");
    let port = broker.local_addr().port().to_be_bytes();
    #[rustfmt::skip]
    let expected = |correlation: u8| -> Vec<u8> {
        [
            &[0, 0, 0, 107][..],            // frame size
            &[0, 0, 0, correlation],        // correlation id
            &[0],                           // header tagged fields (response header v1)
            &[0, 0, 0, 0],                  // throttle time ms
            &[2],                           // brokers: compact array of 1
            &[0, 0, 0, 0],                  //   node id 0
            &[10], b"127.0.0.1",            //   host: the address the client connected to
            &[0, 0, port[0], port[1]],      //   port
            &[0],                           //   rack: null
            &[0],                           //   tagged fields
            &[16], b"transport-bench",      // cluster id
            &[0, 0, 0, 0],                  // controller id 0
            &[2],                           // topics: compact array of 1
            &[0, 0],                        //   error code: none
            &[4], b"ids",                   //   name
            &id,                            //   topic id (v10+)
            &[0],                           //   is internal: false
            &[2],                           //   partitions: compact array of 1
            &[0, 0],                        //     error code
            &[0, 0, 0, 0],                  //     partition 0
            &[0, 0, 0, 0],                  //     leader 0
            &[0xff, 0xff, 0xff, 0xff],      //     leader epoch -1 (none)
            &[2, 0, 0, 0, 0],               //     replicas [0]
            &[2, 0, 0, 0, 0],               //     isr [0]
            &[1],                           //     offline replicas []
            &[0],                           //     tagged fields
            &[0x80, 0, 0, 0],               //   topic authorized operations: not asked
            &[0],                           //   tagged fields
            &[0],                           // tagged fields
        ]
        .concat()
    };
    assert_eq!(first, expected(1));
    assert_eq!(second, expected(2), "the same id on the next call");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn create_topics_and_lookup_by_id_agree_and_memory_restart_changes_ids() {
    let (broker, _) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = topic("made");
    t.num_partitions = 2;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.timeout_ms = 1000;
    req.topics = vec![t];
    let r: CreateTopicsResponse = c.request(ApiKey::CreateTopics, 7, &req).await;
    assert_eq!(r.topics[0].error_code, 0);
    let created = *r.topics[0].topic_id.as_bytes();
    assert_ne!(created, [0; 16]);
    assert_eq!(id_of(&mut c, "made").await, created);
    let other = id_of(&mut c, "auto").await;
    assert_ne!(other, created, "each topic its own id");

    // v10+: a null name asks by id; an unknown id is UNKNOWN_TOPIC_ID (100), echoed back.
    let mut by_id = MetadataRequest::default();
    let mut known = metadata_request::MetadataRequestTopic::default();
    known.name = None;
    known.topic_id = r.topics[0].topic_id;
    let mut unknown = metadata_request::MetadataRequestTopic::default();
    unknown.name = None;
    unknown.topic_id = Vec::from([7u8; 16]).try_into().unwrap();
    by_id.topics = Some(vec![known, unknown]);
    let resp: MetadataResponse = c.request(ApiKey::Metadata, 12, &by_id).await;
    assert_eq!(resp.topics[0].name.as_ref().unwrap().0.as_str(), "made");
    assert_eq!(resp.topics[0].partitions.len(), 2);
    assert_eq!(
        (resp.topics[1].error_code, resp.topics[1].name.is_none()),
        (100, true)
    );
    assert_eq!(resp.topics[1].topic_id.as_bytes(), &[7u8; 16]);

    // A memory broker that restarts has a new incarnation of every topic.
    broker.shutdown().await.unwrap();
    let (broker, _) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    let again = id_of(&mut c, "made").await;
    assert_ne!(again, created);
    broker.shutdown().await.unwrap();
}

fn file_config(dir: &std::path::Path) -> BrokerConfig {
    BrokerConfig {
        storage: Storage::File,
        data_dir: Some(dir.to_owned()),
        partitions_per_topic: 2,
        ..BrokerConfig::default()
    }
}

async fn restart(config: &BrokerConfig, old: Broker) -> (Broker, Conn) {
    old.shutdown().await.expect("broker stops");
    let (broker, _) = start(config.clone()).await;
    let c = Conn::connect(&broker).await;
    (broker, c)
}

#[tokio::test]
async fn file_storage_keeps_the_id_and_gives_older_data_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = file_config(dir.path());
    let (broker, _) = start(config.clone()).await;
    let mut c = Conn::connect(&broker).await;
    let id = id_of(&mut c, "kept").await;
    produce(&mut c, "kept", &[b"before"]).await;

    let (broker, mut c) = restart(&config, broker).await;
    assert_eq!(
        id_of(&mut c, "kept").await,
        id,
        "same incarnation after a restart"
    );
    assert_eq!(produce(&mut c, "kept", &[b"after"]).await, 1);

    // Data written before topic ids existed: no id file. It gets a new id, kept from then on.
    for p in 0..2 {
        std::fs::remove_file(dir.path().join(format!("kept-{p}/topic_id"))).unwrap();
    }
    let (broker, mut c) = restart(&config, broker).await;
    let fresh = id_of(&mut c, "kept").await;
    assert_ne!(fresh, id);
    assert_eq!(produce(&mut c, "kept", &[b"still here"]).await, 2);
    let (broker, mut c) = restart(&config, broker).await;
    assert_eq!(id_of(&mut c, "kept").await, fresh);
    broker.shutdown().await.unwrap();
}
