//! Checks of the layout-derived sizes in `schema.rs` against `kafka-protocol`'s own types.

use std::mem::size_of;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::*;

fn obj_mem(s: &'static Struct) -> usize {
    mem_size(&Ty::Obj(s))
}

/// The memory bound must cover what `Vec::with_capacity` reserves per element of every
/// array the broker decodes, or the guard's budget would undercount.
#[test]
fn mem_size_covers_the_decoded_element_types() {
    let cases = [
        (
            obj_mem(&METADATA_TOPIC),
            size_of::<metadata_request::MetadataRequestTopic>(),
        ),
        (
            obj_mem(&PRODUCE_TOPIC),
            size_of::<produce_request::TopicProduceData>(),
        ),
        (
            obj_mem(&PRODUCE_PARTITION),
            size_of::<produce_request::PartitionProduceData>(),
        ),
        (
            obj_mem(&FETCH_TOPIC),
            size_of::<fetch_request::FetchTopic>(),
        ),
        (
            obj_mem(&FETCH_PARTITION),
            size_of::<fetch_request::FetchPartition>(),
        ),
        (
            obj_mem(&FETCH_FORGOTTEN),
            size_of::<fetch_request::ForgottenTopic>(),
        ),
        (
            obj_mem(&LIST_OFFSETS_TOPIC),
            size_of::<list_offsets_request::ListOffsetsTopic>(),
        ),
        (
            obj_mem(&LIST_OFFSETS_PARTITION),
            size_of::<list_offsets_request::ListOffsetsPartition>(),
        ),
        (
            obj_mem(&CREATE_TOPIC),
            size_of::<create_topics_request::CreatableTopic>(),
        ),
        (
            obj_mem(&CREATE_ASSIGNMENT),
            size_of::<create_topics_request::CreatableReplicaAssignment>(),
        ),
        (
            obj_mem(&CREATE_CONFIG),
            size_of::<create_topics_request::CreatableTopicConfig>(),
        ),
        (
            obj_mem(&JOIN_PROTOCOL),
            size_of::<join_group_request::JoinGroupRequestProtocol>(),
        ),
        (
            obj_mem(&SYNC_ASSIGNMENT),
            size_of::<sync_group_request::SyncGroupRequestAssignment>(),
        ),
        (
            obj_mem(&LEAVE_MEMBER),
            size_of::<leave_group_request::MemberIdentity>(),
        ),
        (
            obj_mem(&COMMIT_TOPIC),
            size_of::<offset_commit_request::OffsetCommitRequestTopic>(),
        ),
        (
            obj_mem(&COMMIT_PARTITION),
            size_of::<offset_commit_request::OffsetCommitRequestPartition>(),
        ),
        (
            obj_mem(&FETCH_OFFSETS_TOPIC),
            size_of::<offset_fetch_request::OffsetFetchRequestTopic>(),
        ),
        (mem_size(&Ty::Str), size_of::<StrBytes>()),
        (mem_size(&Ty::Str), size_of::<Option<TopicName>>()),
        (mem_size(&Ty::Bytes), size_of::<Option<bytes::Bytes>>()),
        (mem_size(&Ty::I32), size_of::<BrokerId>()),
    ];
    let short: Vec<String> = cases
        .into_iter()
        .enumerate()
        .filter(|(_, (bound, actual))| bound < actual)
        .map(|(i, (bound, actual))| format!("case {i}: bound {bound} < size_of {actual}"))
        .collect();
    assert!(short.is_empty(), "{short:#?}");
}

#[test]
fn min_wire_counts_prefixes_and_tag_sections() {
    // Metadata v4 topic: a two-byte empty name; v10 flexible: uuid, one-byte name, tags.
    assert_eq!(min_wire(&Ty::Obj(&METADATA_TOPIC), 4, false), 2);
    assert_eq!(min_wire(&Ty::Obj(&METADATA_TOPIC), 10, true), 18);
    assert_eq!(
        min_wire(&Ty::Obj(&FETCH_PARTITION), 12, true),
        4 + 4 + 8 + 4 + 8 + 4 + 1
    );
}
