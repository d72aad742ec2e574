//! Consumer groups over the raw protocol: assignment across members, and rebalances on join,
//! leave and session timeout.

use std::time::Duration;

use crate::common::*;
use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use transport_pull_log_broker::BrokerConfig;

const V_JOIN: i16 = 5;
const V_SYNC: i16 = 3;
const V_HB: i16 = 3;

fn join_req(member: &str, session_ms: i32) -> JoinGroupRequest {
    let mut p = join_group_request::JoinGroupRequestProtocol::default();
    p.name = StrBytes::from_static_str("range");
    p.metadata = Bytes::from(format!("meta-of-{member}"));
    let mut r = JoinGroupRequest::default();
    r.group_id = GroupId(StrBytes::from_static_str("g"));
    r.session_timeout_ms = session_ms;
    r.rebalance_timeout_ms = 5_000;
    r.member_id = StrBytes::from_string(member.to_owned());
    r.protocol_type = StrBytes::from_static_str("consumer");
    r.protocols = vec![p];
    r
}

fn sync_req(member: &str, generation: i32, assign: &[(&str, &str)]) -> SyncGroupRequest {
    let mut r = SyncGroupRequest::default();
    r.group_id = GroupId(StrBytes::from_static_str("g"));
    r.generation_id = generation;
    r.member_id = StrBytes::from_string(member.to_owned());
    r.assignments = assign
        .iter()
        .map(|(m, a)| {
            let mut x = sync_group_request::SyncGroupRequestAssignment::default();
            x.member_id = StrBytes::from_string((*m).to_owned());
            x.assignment = Bytes::from((*a).to_owned());
            x
        })
        .collect();
    r
}

async fn heartbeat(c: &mut Conn, member: &str, generation: i32) -> i16 {
    let mut r = HeartbeatRequest::default();
    r.group_id = GroupId(StrBytes::from_static_str("g"));
    r.generation_id = generation;
    r.member_id = StrBytes::from_string(member.to_owned());
    let resp: HeartbeatResponse = c.request(ApiKey::Heartbeat, V_HB, &r).await;
    resp.error_code
}

/// Heartbeats every 50 ms until the coordinator asks for a rejoin.
async fn until_rebalance(c: &mut Conn, member: &str, generation: i32) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tokio::time::timeout(BOUND, async {
        loop {
            tick.tick().await;
            match heartbeat(c, member, generation).await {
                0 => continue,
                27 => return,
                e => panic!("heartbeat error {e}"),
            }
        }
    })
    .await
    .expect("rebalance signalled within bound");
}

#[tokio::test]
async fn members_share_assignments_and_leaving_triggers_a_rebalance() {
    let (broker, ctx) = start(BrokerConfig::default()).await;
    let mut c1 = Conn::connect(&broker).await;
    let mut c2 = Conn::connect(&broker).await;

    // First member: a one-member generation at once, and it leads.
    let j1: JoinGroupResponse = c1
        .request(ApiKey::JoinGroup, V_JOIN, &join_req("", 10_000))
        .await;
    assert_eq!((j1.error_code, j1.generation_id), (0, 1));
    let m1 = j1.member_id.as_str().to_owned();
    assert_eq!(j1.leader.as_str(), m1);
    let s1: SyncGroupResponse = c1
        .request(
            ApiKey::SyncGroup,
            V_SYNC,
            &sync_req(&m1, 1, &[(&m1, "p0,p1")]),
        )
        .await;
    assert_eq!(&s1.assignment[..], b"p0,p1");

    // Second member joins: it waits until the first rejoins, then both are in generation 2.
    let cid2 = c2
        .send(ApiKey::JoinGroup, V_JOIN, &join_req("", 10_000))
        .await;
    until_rebalance(&mut c1, &m1, 1).await;
    let j1: JoinGroupResponse = c1
        .request(ApiKey::JoinGroup, V_JOIN, &join_req(&m1, 10_000))
        .await;
    let (got, j2): (i32, JoinGroupResponse) = c2.recv(ApiKey::JoinGroup, V_JOIN).await;
    assert_eq!(got, cid2);
    assert_eq!((j1.generation_id, j2.generation_id), (2, 2));
    assert_eq!(j1.leader.as_str(), m1, "the leader is kept");
    let m2 = j2.member_id.as_str().to_owned();
    let mut roster: Vec<_> = j1
        .members
        .iter()
        .map(|m| m.member_id.as_str().to_owned())
        .collect();
    roster.sort();
    let mut expected = vec![m1.clone(), m2.clone()];
    expected.sort();
    assert_eq!(roster, expected);
    assert!(
        j1.members
            .iter()
            .all(|m| m.metadata.starts_with(b"meta-of-"))
    );
    assert!(j2.members.is_empty(), "only the leader sees the roster");

    // The follower's sync waits for the leader's assignment.
    let cid = c2
        .send(ApiKey::SyncGroup, V_SYNC, &sync_req(&m2, 2, &[]))
        .await;
    let s1: SyncGroupResponse = c1
        .request(
            ApiKey::SyncGroup,
            V_SYNC,
            &sync_req(&m1, 2, &[(&m1, "p0"), (&m2, "p1")]),
        )
        .await;
    let (got, s2): (i32, SyncGroupResponse) = c2.recv(ApiKey::SyncGroup, V_SYNC).await;
    assert_eq!(got, cid);
    assert_eq!(
        (&s1.assignment[..], &s2.assignment[..]),
        (&b"p0"[..], &b"p1"[..])
    );
    assert_eq!(heartbeat(&mut c2, &m2, 2).await, 0);

    // The second member leaves: the first is told to rejoin and ends up alone in gen 3.
    let mut leave = LeaveGroupRequest::default();
    leave.group_id = GroupId(StrBytes::from_static_str("g"));
    leave.member_id = StrBytes::from_string(m2.clone());
    let l: LeaveGroupResponse = c2.request(ApiKey::LeaveGroup, 1, &leave).await;
    assert_eq!(l.error_code, 0);
    assert_eq!(heartbeat(&mut c1, &m1, 2).await, 27);
    let j1: JoinGroupResponse = c1
        .request(ApiKey::JoinGroup, V_JOIN, &join_req(&m1, 10_000))
        .await;
    assert_eq!(j1.generation_id, 3);
    assert_eq!(j1.members.len(), 1);
    assert_eq!(ctx.counters.counter_values()["server_rebalances"], 3);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_expired_session_triggers_a_rebalance() {
    let config = BrokerConfig {
        min_session_timeout_ms: 100,
        ..BrokerConfig::default()
    };
    let (broker, _) = start(config).await;
    let mut c1 = Conn::connect(&broker).await;
    let mut c2 = Conn::connect(&broker).await;
    let j1: JoinGroupResponse = c1
        .request(ApiKey::JoinGroup, V_JOIN, &join_req("", 10_000))
        .await;
    let m1 = j1.member_id.as_str().to_owned();
    let cid = c2.send(ApiKey::JoinGroup, V_JOIN, &join_req("", 300)).await;
    until_rebalance(&mut c1, &m1, 1).await;
    let j1: JoinGroupResponse = c1
        .request(ApiKey::JoinGroup, V_JOIN, &join_req(&m1, 10_000))
        .await;
    let (got, _): (i32, JoinGroupResponse) = c2.recv(ApiKey::JoinGroup, V_JOIN).await;
    assert_eq!(got, cid);
    assert_eq!(j1.members.len(), 2);
    // Member 2 goes silent; within its 300 ms session the coordinator drops it.
    until_rebalance(&mut c1, &m1, 2).await;
    let j1: JoinGroupResponse = c1
        .request(ApiKey::JoinGroup, V_JOIN, &join_req(&m1, 10_000))
        .await;
    assert_eq!(j1.members.len(), 1);
    assert_eq!(j1.generation_id, 3);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn offsets_commit_and_fetch() {
    let (broker, _) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    let mut commit = OffsetCommitRequest::default();
    commit.group_id = GroupId(StrBytes::from_static_str("standalone"));
    commit.generation_id_or_member_epoch = -1;
    let mut t = offset_commit_request::OffsetCommitRequestTopic::default();
    t.name = topic("t");
    let mut p = offset_commit_request::OffsetCommitRequestPartition::default();
    p.partition_index = 0;
    p.committed_offset = 42;
    t.partitions = vec![p];
    commit.topics = vec![t];
    let r: OffsetCommitResponse = c.request(ApiKey::OffsetCommit, 7, &commit).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);

    let mut fetch = OffsetFetchRequest::default();
    fetch.group_id = GroupId(StrBytes::from_static_str("standalone"));
    let mut ft = offset_fetch_request::OffsetFetchRequestTopic::default();
    ft.name = topic("t");
    ft.partition_indexes = vec![0, 1];
    fetch.topics = Some(vec![ft]);
    let r: OffsetFetchResponse = c.request(ApiKey::OffsetFetch, 7, &fetch).await;
    let got: Vec<i64> = r.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    assert_eq!(got, vec![42, -1]);
    broker.shutdown().await.unwrap();
}

/// As Kafka: a member that names no protocol type, or offers no protocol, is refused at once
/// (INCONSISTENT_GROUP_PROTOCOL, 23); no round could ever choose a protocol for it. Found by
/// fuzzing, where such a join was never answered.
#[tokio::test]
async fn a_join_without_protocols_is_refused_at_once() {
    let (broker, _ctx) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    let mut none = join_req("", 10_000);
    none.protocols.clear();
    let r: JoinGroupResponse = c.request(ApiKey::JoinGroup, V_JOIN, &none).await;
    assert_eq!(r.error_code, 23);
    let mut untyped = join_req("", 10_000);
    untyped.protocol_type = StrBytes::from_static_str("");
    let r: JoinGroupResponse = c.request(ApiKey::JoinGroup, V_JOIN, &untyped).await;
    assert_eq!(r.error_code, 23);
}
