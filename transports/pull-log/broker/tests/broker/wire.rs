//! Wire behaviour: version negotiation, request order, acks=0, and hostile or malformed input
//! (the broker answers or closes, never aborts, and keeps serving other connections).

use std::time::Duration;

use crate::common::*;
use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Decodable;
use tokio::io::AsyncWriteExt;
use transport_pull_log_broker::BrokerConfig;

/// The broker still answers ApiVersions on a fresh connection.
async fn still_serving(broker: &transport_pull_log_broker::Broker) {
    let mut c = Conn::connect(broker).await;
    let r: ApiVersionsResponse = c
        .request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(r.error_code, 0);
}

#[tokio::test]
async fn api_versions_lists_apis_and_falls_back_per_kip_511() {
    let (broker, _) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    let r: ApiVersionsResponse = c
        .request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    let max = |k: ApiKey| {
        r.api_keys
            .iter()
            .find(|a| a.api_key == k as i16)
            .unwrap()
            .max_version
    };
    assert_eq!(max(ApiKey::Produce), 12);
    assert_eq!(max(ApiKey::Fetch), 12);
    assert!(r.supported_features.is_empty() && r.finalized_features.is_empty());

    // A version from the future: v0-format body with UNSUPPORTED_VERSION and our range.
    let cid = c
        .send(ApiKey::ApiVersions, 4, &ApiVersionsRequest::default())
        .await;
    let mut frame = c.recv_frame().await.unwrap();
    let h = ResponseHeader::decode(&mut frame, 0).unwrap();
    assert_eq!(h.correlation_id, cid);
    let body = ApiVersionsResponse::decode(&mut frame, 0).unwrap();
    assert_eq!(body.error_code, 35);
    assert!(
        body.api_keys
            .iter()
            .any(|a| a.api_key == 18 && a.max_version == 3)
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn metadata_advertises_the_address_the_client_used() {
    let (broker, ctx) = start(BrokerConfig::default()).await;
    let mut setup = Conn::connect(&broker).await;
    create(&mut setup, "adv").await;
    // A fresh connection whose only request is Metadata: all of it is handshake.
    let mut c = Conn::connect(&broker).await;
    let mut all = MetadataRequest::default();
    all.topics = None; // v1+: null asks for every topic
    let r: MetadataResponse = c.request(ApiKey::Metadata, 12, &all).await;
    assert_eq!(r.brokers[0].host.as_str(), "127.0.0.1");
    assert_eq!(r.brokers[0].port, i32::from(broker.local_addr().port()));
    assert_eq!(r.topics.len(), 1);
    let wire = ctx.wire.snapshot();
    assert!(
        wire.handshake_read > 0 && wire.read == 0,
        "metadata counts as handshake"
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn hostile_array_count_is_rejected_without_allocating() {
    let (broker, ctx) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    // Metadata v4 claiming 2^31-1 topics, in 20 bytes of frame.
    let mut f = BytesMut::new();
    f.put_i32(16);
    f.put_i16(3); // api key: Metadata
    f.put_i16(4); // version
    f.put_i32(7); // correlation id
    f.put_i16(-1); // client id: null
    f.put_i32(i32::MAX); // topics count
    f.put_u8(1);
    f.put_u8(0);
    c.send_raw(&f).await;
    assert!(c.closed().await, "hostile request closes the connection");
    // Same in a flexible version: compact array count 2^31 as a varint.
    let mut c = Conn::connect(&broker).await;
    let mut f = BytesMut::new();
    let body: &[u8] = &[
        0x00, 0x03, 0x00, 0x0c, 0, 0, 0, 8, 0xff, 0xff, 0x00, 0x80, 0x80, 0x80, 0x80, 0x08,
    ];
    f.put_i32(body.len() as i32);
    f.put_slice(body);
    c.send_raw(&f).await;
    assert!(c.closed().await);
    still_serving(&broker).await;
    assert!(ctx.counters.counter_values()["server_malformed_requests"] >= 2);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn oversized_and_malformed_frames_close_only_their_connection() {
    let config = BrokerConfig {
        max_request_bytes: 4096,
        ..BrokerConfig::default()
    };
    let (broker, _) = start(config).await;
    let mut bystander = Conn::connect(&broker).await;

    // Size prefix over the limit: closed before any body is read.
    let mut c = Conn::connect(&broker).await;
    c.send_raw(&4097i32.to_be_bytes()).await;
    assert!(c.closed().await);
    // Negative size.
    let mut c = Conn::connect(&broker).await;
    c.send_raw(&(-5i32).to_be_bytes()).await;
    assert!(c.closed().await);
    // Unknown api key; truncated header; garbage body for a known API; string past the end.
    let cases: [&[u8]; 4] = [
        &[0, 0, 0, 10, 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff],
        &[0, 0, 0, 3, 0, 18, 0],
        &[0, 0, 0, 12, 0, 0, 0, 7, 0, 0, 0, 1, 0xff, 0xff, 0x42, 0x42],
        &[0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 0, 0, 0, 1],
    ];
    for case in cases {
        let mut c = Conn::connect(&broker).await;
        c.send_raw(case).await;
        assert!(c.closed().await, "case {case:?}");
    }
    // The connection opened before all this still works.
    let r: ApiVersionsResponse = bystander
        .request(ApiKey::ApiVersions, 2, &ApiVersionsRequest::default())
        .await;
    assert_eq!(r.error_code, 0);
    still_serving(&broker).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_truncation_of_valid_requests_is_handled() {
    let (broker, _) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    let mut frame = BytesMut::new();
    let req = produce_req("trunc", 0, 1, batch(&[b"abc", b"def"]));
    let cid = c.send(ApiKey::Produce, 9, &req).await;
    let _ = c.recv_frame().await.unwrap();
    // Rebuild the same request bytes and send each truncated body with a consistent size.
    let mut full = BytesMut::new();
    let mut h = RequestHeader::default();
    h.request_api_key = 0;
    h.request_api_version = 9;
    h.correlation_id = cid;
    kafka_protocol::protocol::Encodable::encode(&h, &mut full, 2).unwrap();
    kafka_protocol::protocol::Encodable::encode(&req, &mut full, 9).unwrap();
    for n in (0..full.len()).step_by(3) {
        frame.clear();
        frame.put_i32(n as i32);
        frame.put_slice(&full[..n]);
        let mut c = Conn::connect(&broker).await;
        c.send_raw(&frame).await;
        c.stream.shutdown().await.ok();
        // Either a clean close or (for a prefix that happens to parse) an answer.
        let _ = c.recv_frame().await;
    }
    still_serving(&broker).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn responses_stay_in_request_order_behind_a_parked_fetch() {
    let (broker, _) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    create(&mut c, "order").await;
    let fetch_cid = c
        .send(ApiKey::Fetch, 11, &fetch_req("order", 0, 300, 1))
        .await;
    let av_cid = c
        .send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    let started = tokio::time::Instant::now();
    let (first, f): (i32, FetchResponse) = c.recv(ApiKey::Fetch, 11).await;
    assert_eq!(first, fetch_cid);
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(
        f.responses[0].partitions[0]
            .records
            .as_ref()
            .unwrap()
            .is_empty()
    );
    let (second, _): (i32, ApiVersionsResponse) = c.recv(ApiKey::ApiVersions, 3).await;
    assert_eq!(second, av_cid);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn acks_zero_gets_no_response_and_acks_all_does() {
    let (broker, ctx) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    c.send(
        ApiKey::Produce,
        7,
        &produce_req("acks", 0, 0, batch(&[b"zero"])),
    )
    .await;
    let cid = c
        .send(
            ApiKey::Produce,
            7,
            &produce_req("acks", 0, -1, batch(&[b"all"])),
        )
        .await;
    let (got, r): (i32, ProduceResponse) = c.recv(ApiKey::Produce, 7).await;
    assert_eq!(got, cid, "the acks=0 request produced no response");
    assert_eq!(r.responses[0].partition_responses[0].base_offset, 1);
    let bad: ProduceResponse = c
        .request(
            ApiKey::Produce,
            7,
            &produce_req("acks", 0, 5, batch(&[b"x"])),
        )
        .await;
    assert_eq!(bad.responses[0].partition_responses[0].error_code, 21);
    assert_eq!(ctx.counters.counter_values()["server_produce_requests"], 3);
    broker.shutdown().await.unwrap();
}
