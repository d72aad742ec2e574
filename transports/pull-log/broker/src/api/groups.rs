//! Consumer-group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! OffsetCommit and OffsetFetch, translating between wire messages and [`crate::group`].

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use crate::group::{JoinArgs, JoinResult, Pending, code};
use crate::state::{ConnInfo, NODE_ID, Shared, stopped};

fn s(v: &StrBytes) -> String {
    v.as_str().to_owned()
}

fn sb(v: String) -> StrBytes {
    StrBytes::from_string(v)
}

/// FindCoordinator: this broker coordinates every group.
pub(super) fn find_coordinator(
    conn: &ConnInfo,
    _req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let mut r = FindCoordinatorResponse::default();
    r.node_id = BrokerId(NODE_ID);
    r.host = sb(conn.local.ip().to_string());
    r.port = i32::from(conn.local.port());
    r
}

/// Waits for a pending answer, or gives `on_stop` if the broker shuts down first and
/// `on_drop` if the coordinator dropped the waiter.
async fn settle<T>(shared: &Shared, p: Pending<T>, on_stop: T, on_drop: T) -> T {
    match p {
        Pending::Ready(v) => v,
        Pending::Wait(rx) => {
            let mut shutdown = shared.shutdown.clone();
            tokio::select! {
                v = rx => v.unwrap_or(on_drop),
                () = stopped(&mut shutdown) => on_stop,
            }
        }
    }
}

/// JoinGroup: parks until the round completes.
pub(super) async fn join(
    shared: &Shared,
    req: JoinGroupRequest,
    version: i16,
) -> JoinGroupResponse {
    let member_id = s(&req.member_id);
    let args = JoinArgs {
        group_id: s(&req.group_id.0),
        member_id: member_id.clone(),
        instance_id: req.group_instance_id.as_ref().map(s),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        protocol_type: s(&req.protocol_type),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (s(&p.name), p.metadata))
            .collect(),
    };
    let (pending, started) = shared.groups.join(args, Instant::now());
    if started {
        shared.counters.rebalances.inc();
    }
    let err = |e| JoinResult {
        error: e,
        generation: -1,
        member_id: member_id.clone(),
        ..Default::default()
    };
    let res = settle(
        shared,
        pending,
        err(code::COORDINATOR_NOT_AVAILABLE),
        err(code::REBALANCE_IN_PROGRESS),
    )
    .await;
    let mut r = JoinGroupResponse::default();
    r.error_code = res.error;
    r.generation_id = res.generation;
    r.protocol_type = res.protocol_type.map(sb);
    // Before v7 the protocol name is not nullable.
    r.protocol_name = match res.protocol_name {
        Some(n) => Some(sb(n)),
        None if version < 7 => Some(StrBytes::default()),
        None => None,
    };
    r.leader = sb(res.leader);
    r.member_id = sb(res.member_id);
    r.members = res
        .members
        .into_iter()
        .map(|(id, instance, meta)| {
            let mut m = JoinGroupResponseMember::default();
            m.member_id = sb(id);
            m.group_instance_id = instance.map(sb);
            m.metadata = meta;
            m
        })
        .collect();
    r
}

/// SyncGroup: the leader hands out assignments; others park until it does.
pub(super) async fn sync(shared: &Shared, req: SyncGroupRequest) -> SyncGroupResponse {
    let assignments = req
        .assignments
        .into_iter()
        .map(|a| (s(&a.member_id), a.assignment))
        .collect();
    let pending = shared.groups.sync(
        req.group_id.0.as_str(),
        req.member_id.as_str(),
        req.generation_id,
        assignments,
    );
    let res = settle(
        shared,
        pending,
        Err(code::COORDINATOR_NOT_AVAILABLE),
        Err(code::REBALANCE_IN_PROGRESS),
    )
    .await;
    let mut r = SyncGroupResponse::default();
    match res {
        Ok((ptype, pname, assignment)) => {
            r.protocol_type = ptype.map(sb);
            r.protocol_name = pname.map(sb);
            r.assignment = assignment;
        }
        Err(e) => r.error_code = e,
    }
    r
}

/// Heartbeat.
pub(super) fn heartbeat(shared: &Shared, req: HeartbeatRequest) -> HeartbeatResponse {
    let mut r = HeartbeatResponse::default();
    r.error_code = shared.groups.heartbeat(
        req.group_id.0.as_str(),
        req.member_id.as_str(),
        req.generation_id,
    );
    r
}

/// LeaveGroup: v0–2 name one member, v3+ a list.
pub(super) fn leave(shared: &Shared, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let ids: Vec<String> = if req.members.is_empty() {
        vec![s(&req.member_id)]
    } else {
        req.members.iter().map(|m| s(&m.member_id)).collect()
    };
    let (codes, started) = shared.groups.leave(req.group_id.0.as_str(), &ids);
    if started {
        shared.counters.rebalances.inc();
    }
    let mut r = LeaveGroupResponse::default();
    if req.members.is_empty() {
        r.error_code = codes.first().copied().unwrap_or(0);
    } else {
        r.members = req
            .members
            .into_iter()
            .zip(codes)
            .map(|(m, c)| {
                let mut mr = MemberResponse::default();
                mr.member_id = m.member_id;
                mr.group_instance_id = m.group_instance_id;
                mr.error_code = c;
                mr
            })
            .collect();
    }
    r
}

/// OffsetCommit: one code for the whole request, reported on every partition.
pub(super) fn offset_commit(shared: &Shared, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let offsets = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                let key = (s(&t.name.0), p.partition_index);
                (
                    key,
                    (p.committed_offset, p.committed_metadata.as_ref().map(s)),
                )
            })
        })
        .collect();
    let code = shared.groups.commit(
        req.group_id.0.as_str(),
        req.member_id.as_str(),
        req.generation_id_or_member_epoch,
        offsets,
    );
    let mut r = OffsetCommitResponse::default();
    r.topics = req
        .topics
        .into_iter()
        .map(|t| {
            let mut tr = OffsetCommitResponseTopic::default();
            tr.name = t.name;
            tr.partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut pr = OffsetCommitResponsePartition::default();
                    pr.partition_index = p.partition_index;
                    pr.error_code = code;
                    pr
                })
                .collect();
            tr
        })
        .collect();
    r
}

/// OffsetFetch (v1–7): committed offsets, -1 where none.
pub(super) fn offset_fetch(shared: &Shared, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let wanted = req.topics.map(|ts| {
        ts.iter()
            .flat_map(|t| t.partition_indexes.iter().map(|p| (s(&t.name.0), *p)))
            .collect()
    });
    let found = shared.groups.committed(req.group_id.0.as_str(), wanted);
    let mut r = OffsetFetchResponse::default();
    for ((topic, partition), committed) in found {
        if r.topics.last().is_none_or(|t| t.name.0.as_str() != topic) {
            let mut t = OffsetFetchResponseTopic::default();
            t.name = TopicName(sb(topic));
            r.topics.push(t);
        }
        let mut p = OffsetFetchResponsePartition::default();
        p.partition_index = partition;
        p.committed_leader_epoch = -1;
        match committed {
            Some((offset, meta)) => {
                p.committed_offset = offset;
                p.metadata = Some(sb(meta.unwrap_or_default()));
            }
            None => {
                p.committed_offset = -1;
                p.metadata = Some(StrBytes::default());
            }
        }
        if let Some(t) = r.topics.last_mut() {
            t.partitions.push(p);
        }
    }
    r
}
