//! Cross-check of `schema.rs` against `kafka-protocol`: for every supported API and version, a
//! request with every array, string and nullable field populated is encoded by the crate and
//! must be walked by the guard to exactly its last byte. A layout slip in either direction
//! (a field the guard misses or invents) shows up as a length mismatch or an encode error.
//! Each request is then corrupted byte by byte and fed through guard and decoder.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::APIS;
use crate::guard::Cursor;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn tn(v: &str) -> TopicName {
    TopicName(s(v))
}

fn versions(key: ApiKey) -> std::ops::RangeInclusive<i16> {
    let a = APIS.iter().find(|a| a.key == key).unwrap();
    a.min..=a.max
}

/// Checks the layout, then corrupts each byte in turn: whatever passes the guard must decode
/// (or fail) without aborting the process, which is what the guard exists to ensure.
fn check<R: Encodable + Decodable>(key: ApiKey, v: i16, req: &R) {
    let a = APIS.iter().find(|a| a.key == key).unwrap();
    let mut buf = BytesMut::new();
    req.encode(&mut buf, v)
        .unwrap_or_else(|e| panic!("{key:?} v{v} encode: {e}"));
    let mut c = Cursor::new(&buf);
    c.walk_struct(a.schema, v, v >= a.flexible_from)
        .unwrap_or_else(|e| panic!("{key:?} v{v} walk: {e}"));
    assert_eq!(
        c.pos(),
        buf.len(),
        "{key:?} v{v}: guard layout differs from decoder"
    );
    let flexible = v >= a.flexible_from;
    for i in 0..buf.len() {
        for b in [0x00, 0x7f, 0x80, 0xff] {
            let mut m = buf.clone();
            m[i] = b;
            if crate::guard::check_body(&m, a.schema, v, flexible, 1 << 20).is_ok() {
                let _ = R::decode(&mut m.freeze(), v);
            }
        }
    }
}

#[test]
fn api_versions_metadata_find_coordinator() {
    for v in versions(ApiKey::ApiVersions) {
        let mut r = ApiVersionsRequest::default();
        if v >= 3 {
            r.client_software_name = s("kcat");
            r.client_software_version = s("1.7");
        }
        check(ApiKey::ApiVersions, v, &r);
    }
    for v in versions(ApiKey::Metadata) {
        let mut r = MetadataRequest::default();
        let mut t = metadata_request::MetadataRequestTopic::default();
        t.name = Some(tn("topic"));
        r.topics = Some(vec![t.clone(), t]);
        if v >= 4 {
            r.allow_auto_topic_creation = false;
        }
        if (8..=10).contains(&v) {
            r.include_cluster_authorized_operations = true;
        }
        if v >= 8 {
            r.include_topic_authorized_operations = true;
        }
        check(ApiKey::Metadata, v, &r);
    }
    for v in versions(ApiKey::FindCoordinator) {
        let mut r = FindCoordinatorRequest::default();
        r.key = s("group");
        if v >= 1 {
            r.key_type = 1;
        }
        check(ApiKey::FindCoordinator, v, &r);
    }
}

#[test]
fn produce_fetch_list_offsets_create_topics() {
    for v in versions(ApiKey::Produce) {
        let mut p = produce_request::PartitionProduceData::default();
        p.index = 1;
        p.records = Some(Bytes::from_static(b"0123456789"));
        let mut t = produce_request::TopicProduceData::default();
        t.name = tn("t");
        t.partition_data = vec![p.clone(), p];
        let mut r = ProduceRequest::default();
        r.transactional_id = Some(TransactionalId(s("tx")));
        r.acks = -1;
        r.topic_data = vec![t.clone(), t];
        check(ApiKey::Produce, v, &r);
    }
    for v in versions(ApiKey::Fetch) {
        let mut p = fetch_request::FetchPartition::default();
        p.partition = 2;
        p.fetch_offset = 7;
        p.partition_max_bytes = 100;
        if v >= 9 {
            p.current_leader_epoch = 3;
        }
        if v >= 12 {
            p.last_fetched_epoch = 3;
        }
        if v >= 5 {
            p.log_start_offset = 1;
        }
        let mut t = fetch_request::FetchTopic::default();
        t.topic = tn("t");
        t.partitions = vec![p.clone(), p];
        let mut r = FetchRequest::default();
        r.max_wait_ms = 500;
        r.min_bytes = 1;
        r.max_bytes = 1000;
        r.isolation_level = 1;
        r.topics = vec![t.clone(), t];
        if v >= 7 {
            r.session_id = 1;
            r.session_epoch = 1;
            let mut f = fetch_request::ForgottenTopic::default();
            f.topic = tn("old");
            f.partitions = vec![1, 2, 3];
            r.forgotten_topics_data = vec![f];
        }
        if v >= 11 {
            r.rack_id = s("rack");
        }
        if v >= 12 {
            r.cluster_id = Some(s("cluster"));
        }
        check(ApiKey::Fetch, v, &r);
    }
    for v in versions(ApiKey::ListOffsets) {
        let mut p = list_offsets_request::ListOffsetsPartition::default();
        p.timestamp = -2;
        if v >= 4 {
            p.current_leader_epoch = 1;
        }
        let mut t = list_offsets_request::ListOffsetsTopic::default();
        t.name = tn("t");
        t.partitions = vec![p.clone(), p];
        let mut r = ListOffsetsRequest::default();
        r.topics = vec![t.clone(), t];
        if v >= 2 {
            r.isolation_level = 1;
        }
        check(ApiKey::ListOffsets, v, &r);
    }
    for v in versions(ApiKey::CreateTopics) {
        let mut a = create_topics_request::CreatableReplicaAssignment::default();
        a.broker_ids = vec![BrokerId(0), BrokerId(1)];
        let mut c = create_topics_request::CreatableTopicConfig::default();
        c.name = s("retention.ms");
        c.value = Some(s("1000"));
        let mut t = create_topics_request::CreatableTopic::default();
        t.name = tn("t");
        t.assignments = vec![a.clone(), a];
        t.configs = vec![c.clone(), c];
        let mut r = CreateTopicsRequest::default();
        r.topics = vec![t.clone(), t];
        r.validate_only = true;
        check(ApiKey::CreateTopics, v, &r);
    }
}

#[test]
fn group_apis() {
    for v in versions(ApiKey::JoinGroup) {
        let mut p = join_group_request::JoinGroupRequestProtocol::default();
        p.name = s("range");
        p.metadata = Bytes::from_static(b"meta");
        let mut r = JoinGroupRequest::default();
        r.group_id = GroupId(s("g"));
        r.member_id = s("m");
        r.protocol_type = s("consumer");
        r.protocols = vec![p.clone(), p];
        if v >= 1 {
            r.rebalance_timeout_ms = 1000;
        }
        if v >= 5 {
            r.group_instance_id = Some(s("i"));
        }
        check(ApiKey::JoinGroup, v, &r);
    }
    for v in versions(ApiKey::SyncGroup) {
        let mut a = sync_group_request::SyncGroupRequestAssignment::default();
        a.member_id = s("m");
        a.assignment = Bytes::from_static(b"assign");
        let mut r = SyncGroupRequest::default();
        r.group_id = GroupId(s("g"));
        r.member_id = s("m");
        r.assignments = vec![a.clone(), a];
        if v >= 3 {
            r.group_instance_id = Some(s("i"));
        }
        if v >= 5 {
            r.protocol_type = Some(s("consumer"));
            r.protocol_name = Some(s("range"));
        }
        check(ApiKey::SyncGroup, v, &r);
    }
    for v in versions(ApiKey::Heartbeat) {
        let mut r = HeartbeatRequest::default();
        r.group_id = GroupId(s("g"));
        r.member_id = s("m");
        if v >= 3 {
            r.group_instance_id = Some(s("i"));
        }
        check(ApiKey::Heartbeat, v, &r);
    }
    for v in versions(ApiKey::LeaveGroup) {
        let mut r = LeaveGroupRequest::default();
        r.group_id = GroupId(s("g"));
        if v <= 2 {
            r.member_id = s("m");
        } else {
            let mut m = leave_group_request::MemberIdentity::default();
            m.member_id = s("m");
            m.group_instance_id = Some(s("i"));
            if v >= 5 {
                m.reason = Some(s("bye"));
            }
            r.members = vec![m.clone(), m];
        }
        check(ApiKey::LeaveGroup, v, &r);
    }
    for v in versions(ApiKey::OffsetCommit) {
        let mut p = offset_commit_request::OffsetCommitRequestPartition::default();
        p.committed_offset = 5;
        p.committed_metadata = Some(s("md"));
        if v >= 6 {
            p.committed_leader_epoch = 2;
        }
        let mut t = offset_commit_request::OffsetCommitRequestTopic::default();
        t.name = tn("t");
        t.partitions = vec![p.clone(), p];
        let mut r = OffsetCommitRequest::default();
        r.group_id = GroupId(s("g"));
        r.member_id = s("m");
        r.topics = vec![t.clone(), t];
        if v >= 7 {
            r.group_instance_id = Some(s("i"));
        }
        if v <= 4 {
            r.retention_time_ms = 1000;
        }
        check(ApiKey::OffsetCommit, v, &r);
    }
    for v in versions(ApiKey::OffsetFetch) {
        let mut t = offset_fetch_request::OffsetFetchRequestTopic::default();
        t.name = tn("t");
        t.partition_indexes = vec![0, 1, 2];
        let mut r = OffsetFetchRequest::default();
        r.group_id = GroupId(s("g"));
        r.topics = Some(vec![t.clone(), t]);
        if v >= 7 {
            r.require_stable = true;
        }
        check(ApiKey::OffsetFetch, v, &r);
    }
}
