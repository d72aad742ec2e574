//! Cluster look-ups every client needs before it moves data: a topic's partitions and topic id
//! (Metadata, auto-creating the topic) and the end offsets of its partitions (ListOffsets).
//!
//! The client assumes one broker leads every partition (the embedded broker, or a one-node
//! external cluster): it does not route requests to per-partition leaders.

use std::time::Duration;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    BrokerId, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;
use transport_core::TransportError;

use crate::conn::Conn;
use crate::incarnation::TopicId;

/// Kafka error codes this client reacts to by name.
pub(crate) mod code {
    /// The fetch position is outside the log (it was truncated, or the broker restarted empty).
    pub const OFFSET_OUT_OF_RANGE: i16 = 1;
    /// The topic does not exist (yet): auto-creation may be under way.
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    /// The partition has no leader yet (just created).
    pub const LEADER_NOT_AVAILABLE: i16 = 5;
    /// This broker no longer leads the partition.
    pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
    /// The coordinator is still loading the group.
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    /// The coordinator is not available yet.
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    /// The member's generation is stale: rejoin.
    pub const ILLEGAL_GENERATION: i16 = 22;
    /// The coordinator no longer knows this member: rejoin with no member id.
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    /// The group is rebalancing: rejoin.
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    /// JoinGroup v4+: retry with the member id in the response.
    pub const MEMBER_ID_REQUIRED: i16 = 79;
}

/// The topic name as the protocol types want it.
pub(crate) fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

/// A broker error code as a transport error.
pub(crate) fn refused(stage: &'static str, code: i16, what: &str) -> TransportError {
    TransportError::Refused {
        stage,
        detail: format!("{what}: error code {code}"),
    }
}

/// What Metadata says about one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicMeta {
    /// Partition ids, sorted.
    pub partitions: Vec<i32>,
    /// The topic id (Metadata v10+), `None` if the broker sent none.
    pub id: Option<TopicId>,
}

/// `topic`'s partitions and id, waiting (up to `timeout`) while the broker creates it.
pub(crate) async fn topic_meta(
    conn: &mut Conn,
    topic: &str,
    timeout: Duration,
) -> Result<TopicMeta, TransportError> {
    let stage = "metadata";
    let deadline = Instant::now() + timeout;
    loop {
        let mut req = MetadataRequest::default();
        let mut t = MetadataRequestTopic::default();
        t.name = Some(topic_name(topic));
        req.topics = Some(vec![t]);
        let resp: MetadataResponse = conn.call(&req, stage).await?;
        let found = resp
            .topics
            .iter()
            .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(topic));
        let retriable = match found {
            Some(t) if t.error_code == 0 => {
                let mut ids: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
                let leaderless = t.partitions.iter().any(|p| p.leader_id.0 < 0);
                if !ids.is_empty() && !leaderless {
                    ids.sort_unstable();
                    ids.dedup();
                    return Ok(TopicMeta {
                        partitions: ids,
                        id: TopicId::from_wire(*t.topic_id.as_bytes()),
                    });
                }
                true
            }
            Some(t) => {
                if t.error_code != code::UNKNOWN_TOPIC_OR_PARTITION
                    && t.error_code != code::LEADER_NOT_AVAILABLE
                {
                    return Err(refused(stage, t.error_code, topic));
                }
                true
            }
            None => true,
        };
        if retriable && Instant::now() >= deadline {
            return Err(TransportError::Timeout {
                stage,
                after_ms: timeout.as_millis() as u64,
            });
        }
        // The broker is creating the topic; ask again shortly (not a test synchronisation).
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// ListOffsets timestamp meaning "the log end".
pub(crate) const LATEST: i64 = -1;
/// ListOffsets timestamp meaning "the log start".
pub(crate) const EARLIEST: i64 = -2;

/// The log-end offset of each of `partitions` (ListOffsets with timestamp -1, "latest").
pub(crate) async fn end_offsets(
    conn: &mut Conn,
    topic: &str,
    partitions: &[i32],
) -> Result<Vec<(i32, i64)>, TransportError> {
    list_offsets(conn, topic, partitions, LATEST).await
}

/// The offset at `timestamp` ([`LATEST`], [`EARLIEST`]) of each of `partitions`.
pub(crate) async fn list_offsets(
    conn: &mut Conn,
    topic: &str,
    partitions: &[i32],
    timestamp: i64,
) -> Result<Vec<(i32, i64)>, TransportError> {
    let stage = "list offsets";
    let mut req = ListOffsetsRequest::default();
    req.replica_id = BrokerId(-1); // a consumer, not a follower
    let mut t = ListOffsetsTopic::default();
    t.name = topic_name(topic);
    t.partitions = partitions
        .iter()
        .map(|&p| {
            let mut lp = ListOffsetsPartition::default();
            lp.partition_index = p;
            lp.timestamp = timestamp;
            lp
        })
        .collect();
    req.topics = vec![t];
    let resp: ListOffsetsResponse = conn.call(&req, stage).await?;
    let mut out = Vec::with_capacity(partitions.len());
    for &p in partitions {
        let got = resp
            .topics
            .iter()
            .filter(|t| t.name.0.as_str() == topic)
            .flat_map(|t| t.partitions.iter())
            .find(|r| r.partition_index == p)
            .ok_or_else(|| TransportError::protocol(stage, format!("no offset for {p}")))?;
        if got.error_code != 0 {
            return Err(refused(stage, got.error_code, topic));
        }
        out.push((p, got.offset));
    }
    Ok(out)
}
