//! The version table: every API the broker answers, its version range, first flexible version
//! and body layout. Dispatch (`api`) checks requests against it and ApiVersions (`meta`)
//! reports it, so it sits beside both.

use kafka_protocol::messages::ApiKey;

use crate::schema::{self, Struct};

/// One supported API: version range, first flexible version, body layout.
pub(crate) struct ApiSpec {
    pub(crate) key: ApiKey,
    pub(crate) min: i16,
    pub(crate) max: i16,
    pub(crate) flexible_from: i16,
    pub(crate) schema: &'static Struct,
}

const fn spec(
    key: ApiKey,
    min: i16,
    max: i16,
    flexible_from: i16,
    schema: &'static Struct,
) -> ApiSpec {
    ApiSpec {
        key,
        min,
        max,
        flexible_from,
        schema,
    }
}

/// Every API and version range the broker answers. Produce and Fetch stop at v12: v13 and up
/// address topics by id, which this broker does not implement.
pub(crate) static APIS: &[ApiSpec] = &[
    spec(ApiKey::Produce, 3, 12, 9, &schema::PRODUCE),
    spec(ApiKey::Fetch, 4, 12, 12, &schema::FETCH),
    spec(ApiKey::ListOffsets, 1, 7, 6, &schema::LIST_OFFSETS),
    spec(ApiKey::Metadata, 0, 12, 9, &schema::METADATA),
    spec(ApiKey::OffsetCommit, 2, 8, 8, &schema::OFFSET_COMMIT),
    spec(ApiKey::OffsetFetch, 1, 7, 6, &schema::OFFSET_FETCH),
    spec(ApiKey::FindCoordinator, 0, 3, 3, &schema::FIND_COORDINATOR),
    spec(ApiKey::JoinGroup, 0, 7, 6, &schema::JOIN_GROUP),
    spec(ApiKey::Heartbeat, 0, 4, 4, &schema::HEARTBEAT),
    spec(ApiKey::LeaveGroup, 0, 5, 4, &schema::LEAVE_GROUP),
    spec(ApiKey::SyncGroup, 0, 5, 4, &schema::SYNC_GROUP),
    spec(ApiKey::ApiVersions, 0, 3, 3, &schema::API_VERSIONS),
    spec(ApiKey::CreateTopics, 2, 7, 5, &schema::CREATE_TOPICS),
    // v6 adds two-phase-commit fields for transactions, which this broker does not implement.
    spec(ApiKey::InitProducerId, 0, 5, 2, &schema::INIT_PRODUCER_ID),
];
