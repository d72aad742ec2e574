//! Consumer-group APIs (placeholder).

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::state::{ConnInfo, NODE_ID, Shared};

const COORDINATOR_NOT_AVAILABLE: i16 = 15;

pub(super) fn find_coordinator(
    conn: &ConnInfo,
    _req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let mut r = FindCoordinatorResponse::default();
    r.node_id = BrokerId(NODE_ID);
    r.host = StrBytes::from_string(conn.local.ip().to_string());
    r.port = i32::from(conn.local.port());
    r
}

pub(super) async fn join(_s: &Shared, _r: JoinGroupRequest, _v: i16) -> JoinGroupResponse {
    let mut r = JoinGroupResponse::default();
    r.error_code = COORDINATOR_NOT_AVAILABLE;
    r
}

pub(super) async fn sync(_s: &Shared, _r: SyncGroupRequest) -> SyncGroupResponse {
    let mut r = SyncGroupResponse::default();
    r.error_code = COORDINATOR_NOT_AVAILABLE;
    r
}

pub(super) fn heartbeat(_s: &Shared, _r: HeartbeatRequest) -> HeartbeatResponse {
    let mut r = HeartbeatResponse::default();
    r.error_code = COORDINATOR_NOT_AVAILABLE;
    r
}

pub(super) fn leave(_s: &Shared, _r: LeaveGroupRequest) -> LeaveGroupResponse {
    let mut r = LeaveGroupResponse::default();
    r.error_code = COORDINATOR_NOT_AVAILABLE;
    r
}

pub(super) fn offset_commit(_s: &Shared, _r: OffsetCommitRequest) -> OffsetCommitResponse {
    OffsetCommitResponse::default()
}

pub(super) fn offset_fetch(_s: &Shared, _r: OffsetFetchRequest) -> OffsetFetchResponse {
    OffsetFetchResponse::default()
}
