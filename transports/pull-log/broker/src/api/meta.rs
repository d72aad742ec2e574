//! ApiVersions, Metadata and CreateTopics: what a client learns before it produces or fetches.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::table::APIS;
use crate::state::{ConnInfo, NODE_ID, Shared};
use crate::topic_id::TopicId;
use crate::topics::{CreateError, Topic};

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC: i16 = 17;
const TOPIC_ALREADY_EXISTS: i16 = 36;
const INVALID_PARTITIONS: i16 = 37;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const KAFKA_STORAGE_ERROR: i16 = 56;
const UNKNOWN_TOPIC_ID: i16 = 100;

/// The cluster id Metadata reports.
const CLUSTER_ID: &str = "transport-bench";

/// The ApiVersions body. Features (tagged fields) stay at their defaults, so nothing tagged is
/// written: older librdkafka misparses non-default tagged fields here.
pub(super) fn api_versions(error_code: i16) -> ApiVersionsResponse {
    let mut r = ApiVersionsResponse::default();
    r.error_code = error_code;
    r.api_keys = APIS
        .iter()
        .map(|a| {
            let mut v = ApiVersion::default();
            v.api_key = a.key as i16;
            v.min_version = a.min;
            v.max_version = a.max;
            v
        })
        .collect();
    r
}

/// A topic of a Metadata response. Its id is set for every version: the encoder writes it
/// from v10 on and leaves it out before.
fn topic_entry(name: Option<&str>, topic: Option<&Topic>, error: i16) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.name = name.map(|n| TopicName(StrBytes::from_string(n.to_owned())));
    t.error_code = error;
    if let Some(topic) = topic {
        if let Some(id) = topic.id().to_wire() {
            t.topic_id = id;
        }
        t.partitions = (0..topic.len() as i32)
            .map(|p| {
                let mut part = MetadataResponsePartition::default();
                part.partition_index = p;
                part.leader_id = BrokerId(NODE_ID);
                // No leader epochs: clients then skip epoch validation (OffsetForLeaderEpoch).
                part.leader_epoch = -1;
                part.replica_nodes = vec![BrokerId(NODE_ID)];
                part.isr_nodes = vec![BrokerId(NODE_ID)];
                part
            })
            .collect();
    }
    t
}

/// One topic a Metadata request names.
enum Wanted {
    Name(String),
    Id([u8; 16]),
}

/// The entry for a topic asked for by name, created first if allowed and configured.
fn by_name(shared: &Shared, name: &str, allow_create: bool) -> MetadataResponseTopic {
    let found = if allow_create {
        shared.topics.get_or_auto_create(name)
    } else {
        shared.topics.get(name)
    };
    match found {
        Some(t) => topic_entry(Some(name), Some(&t), 0),
        None if !crate::topics::valid_topic_name(name) => {
            topic_entry(Some(name), None, INVALID_TOPIC)
        }
        None => topic_entry(Some(name), None, UNKNOWN_TOPIC_OR_PARTITION),
    }
}

/// The entry for a topic asked for by id: never created, since an id names an incarnation
/// that already exists (or existed).
fn by_id(shared: &Shared, bytes: [u8; 16]) -> MetadataResponseTopic {
    let found = TopicId::from_bytes(bytes).and_then(|id| shared.topics.by_id(id));
    match found {
        Some((name, t)) => topic_entry(Some(&name), Some(&t), 0),
        None => {
            // Kafka echoes the unknown id back with a null name.
            let mut e = topic_entry(None, None, UNKNOWN_TOPIC_ID);
            if let Some(id) = TopicId::from_bytes(bytes).and_then(TopicId::to_wire) {
                e.topic_id = id;
            }
            e
        }
    }
}

/// The Metadata body: this broker as the only node, and the requested (or all) topics.
pub(super) fn metadata(
    shared: &Shared,
    conn: &ConnInfo,
    req: MetadataRequest,
    version: i16,
) -> MetadataResponse {
    let mut r = MetadataResponse::default();
    let mut b = MetadataResponseBroker::default();
    b.node_id = BrokerId(NODE_ID);
    b.host = StrBytes::from_string(conn.local.ip().to_string());
    b.port = i32::from(conn.local.port());
    r.brokers = vec![b];
    r.cluster_id = Some(StrBytes::from_static_str(CLUSTER_ID));
    r.controller_id = BrokerId(NODE_ID);
    // v0: an empty list means all topics; v1+: null means all, empty means none.
    let requested: Option<Vec<Wanted>> = match req.topics {
        None => None,
        Some(t) if t.is_empty() && version == 0 => None,
        Some(t) => Some(
            t.into_iter()
                .map(|t| match t.name {
                    Some(n) => Wanted::Name(n.0.as_str().to_owned()),
                    // v10+: a null name asks by id (KIP-516).
                    None => Wanted::Id(*t.topic_id.as_bytes()),
                })
                .collect(),
        ),
    };
    let allow_create = version < 4 || req.allow_auto_topic_creation;
    r.topics = match requested {
        None => shared
            .topics
            .list()
            .into_iter()
            .filter_map(|(name, _)| {
                let t = shared.topics.get(&name)?;
                Some(topic_entry(Some(&name), Some(&t), 0))
            })
            .collect(),
        Some(wanted) => wanted
            .iter()
            .map(|w| match w {
                Wanted::Name(name) => by_name(shared, name, allow_create),
                Wanted::Id(bytes) => by_id(shared, *bytes),
            })
            .collect(),
    };
    r
}

/// CreateTopics: creates each topic (or only validates), one result per topic.
pub(super) fn create_topics(shared: &Shared, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut r = CreateTopicsResponse::default();
    for t in req.topics {
        let name = t.name.0.as_str().to_owned();
        let mut res = CreatableTopicResult::default();
        res.name = t.name.clone();
        let partitions = match t.num_partitions {
            -1 => None,
            n if n > 0 => Some(n as u32),
            _ => {
                res.error_code = INVALID_PARTITIONS;
                r.topics.push(res);
                continue;
            }
        };
        if t.replication_factor > 1 {
            res.error_code = INVALID_REPLICATION_FACTOR;
            res.error_message = Some(StrBytes::from_static_str("single-node broker"));
            r.topics.push(res);
            continue;
        }
        let outcome = if req.validate_only {
            match (
                crate::topics::valid_topic_name(&name),
                shared.topics.get(&name),
            ) {
                (false, _) => Err(CreateError::InvalidName),
                (true, Some(_)) => Err(CreateError::Exists),
                (true, None) => Ok((
                    partitions.unwrap_or(shared.config.partitions_per_topic),
                    None,
                )),
            }
        } else {
            shared
                .topics
                .create(&name, partitions)
                .map(|t| (t.len() as u32, Some(t.id())))
        };
        match outcome {
            Ok((n, id)) => {
                res.num_partitions = n as i32;
                res.replication_factor = 1;
                // v7+ carries the new topic's id (nil when only validating, as in Kafka).
                if let Some(id) = id.and_then(TopicId::to_wire) {
                    res.topic_id = id;
                }
            }
            Err(e) => {
                res.error_code = match e {
                    CreateError::Exists => TOPIC_ALREADY_EXISTS,
                    CreateError::InvalidName => INVALID_TOPIC,
                    CreateError::InvalidPartitions => INVALID_PARTITIONS,
                    CreateError::Io(_) => KAFKA_STORAGE_ERROR,
                };
                res.error_message = Some(StrBytes::from_string(e.to_string()));
            }
        }
        r.topics.push(res);
    }
    r
}
