//! Test helpers: an in-process broker on 127.0.0.1:0 and a minimal raw Kafka client built on
//! `kafka-protocol`, so tests can check exact wire behaviour.
// Helpers are test code: each test uses a subset, and failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use transport_core::ServerContext;
use transport_pull_log_broker::{Broker, BrokerConfig};

/// Every wait in these tests is bounded by this.
pub const BOUND: Duration = Duration::from_secs(10);

/// Starts a broker with `config` on 127.0.0.1:0.
pub async fn start(config: BrokerConfig) -> (Broker, ServerContext) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ctx = ServerContext::fresh();
    let broker = Broker::start(config, listener, ctx.clone()).await.unwrap();
    (broker, ctx)
}

/// A raw connection speaking Kafka requests.
pub struct Conn {
    pub stream: TcpStream,
    next_cid: i32,
}

impl Conn {
    pub async fn connect(broker: &Broker) -> Conn {
        let stream = TcpStream::connect(broker.local_addr()).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            next_cid: 1,
        }
    }

    /// Sends a request; returns its correlation id.
    pub async fn send<R: Encodable>(&mut self, key: ApiKey, version: i16, req: &R) -> i32 {
        let cid = self.next_cid;
        self.next_cid += 1;
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        let mut h = RequestHeader::default();
        h.request_api_key = key as i16;
        h.request_api_version = version;
        h.correlation_id = cid;
        h.client_id = Some(StrBytes::from_static_str("test"));
        h.encode(&mut buf, key.request_header_version(version))
            .unwrap();
        req.encode(&mut buf, version).unwrap();
        let len = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        self.send_raw(&buf).await;
        cid
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads one response frame; `None` if the broker closed the connection.
    pub async fn recv_frame(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        tokio::time::timeout(BOUND, self.stream.read_exact(&mut len))
            .await
            .expect("response within bound")
            .ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut body).await.ok()?;
        Some(Bytes::from(body))
    }

    /// Reads one response of `key`/`version`; returns (correlation id, body).
    pub async fn recv<T: Decodable>(&mut self, key: ApiKey, version: i16) -> (i32, T) {
        let mut frame = self.recv_frame().await.expect("connection open");
        let h = ResponseHeader::decode(&mut frame, key.response_header_version(version)).unwrap();
        let body = T::decode(&mut frame, version).unwrap();
        assert!(!frame.has_remaining(), "trailing bytes in {key:?} response");
        (h.correlation_id, body)
    }

    pub async fn request<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        req: &Req,
    ) -> Resp {
        let cid = self.send(key, version, req).await;
        let (got, resp) = self.recv(key, version).await;
        assert_eq!(got, cid);
        resp
    }

    /// Whether the broker closed this connection (EOF within the bound).
    pub async fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(BOUND, self.stream.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

pub fn topic(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// One uncompressed v2 batch holding `values`.
pub fn batch(values: &[&[u8]]) -> Bytes {
    idempotent_batch(values, -1, -1, 0)
}

/// One uncompressed v2 batch holding `values`, from producer `pid` (`-1`: none) at `epoch`,
/// its first record at sequence `first_seq`.
pub fn idempotent_batch(values: &[&[u8]], pid: i64, epoch: i16, first_seq: i32) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch whenever offset - sequence changes.
            sequence: first_seq + i as i32,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(Bytes::copy_from_slice(v)),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &opts).unwrap();
    buf.freeze()
}

/// Values of every record in `records`, with offsets.
pub fn values(records: &Bytes) -> Vec<(i64, Vec<u8>)> {
    let mut b = records.clone();
    RecordBatchDecoder::decode_all(&mut b)
        .unwrap()
        .into_iter()
        .flat_map(|s| s.records)
        .map(|r| (r.offset, r.value.map(|v| v.to_vec()).unwrap_or_default()))
        .collect()
}

pub fn produce_req(name: &str, partition: i32, acks: i16, records: Bytes) -> ProduceRequest {
    let mut p = produce_request::PartitionProduceData::default();
    p.index = partition;
    p.records = Some(records);
    let mut t = produce_request::TopicProduceData::default();
    t.name = topic(name);
    t.partition_data = vec![p];
    let mut r = ProduceRequest::default();
    r.acks = acks;
    r.timeout_ms = 5000;
    r.topic_data = vec![t];
    r
}

/// Produces `values` as one batch with acks=1; returns the base offset.
pub async fn produce(conn: &mut Conn, name: &str, vals: &[&[u8]]) -> i64 {
    let resp: ProduceResponse = conn
        .request(ApiKey::Produce, 7, &produce_req(name, 0, 1, batch(vals)))
        .await;
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0);
    p.base_offset
}

pub fn fetch_req(name: &str, offset: i64, max_wait_ms: i32, min_bytes: i32) -> FetchRequest {
    let mut p = fetch_request::FetchPartition::default();
    p.partition = 0;
    p.fetch_offset = offset;
    p.partition_max_bytes = 1 << 20;
    let mut t = fetch_request::FetchTopic::default();
    t.topic = topic(name);
    t.partitions = vec![p];
    let mut r = FetchRequest::default();
    r.replica_id = BrokerId(-1);
    r.max_wait_ms = max_wait_ms;
    r.min_bytes = min_bytes;
    r.max_bytes = 1 << 24;
    r.topics = vec![t];
    r
}

/// Creates `name` via Metadata auto-creation.
pub async fn create(conn: &mut Conn, name: &str) {
    let mut t = metadata_request::MetadataRequestTopic::default();
    t.name = Some(topic(name));
    let mut r = MetadataRequest::default();
    r.topics = Some(vec![t]);
    r.allow_auto_topic_creation = true;
    let resp: MetadataResponse = conn.request(ApiKey::Metadata, 4, &r).await;
    assert_eq!(resp.topics[0].error_code, 0);
}
