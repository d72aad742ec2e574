//! The group coordinator requests of one member, each bounded by the request timeout:
//! FindCoordinator, JoinGroup + SyncGroup (with the range assignment when this member leads),
//! OffsetFetch, OffsetCommit, Heartbeat and LeaveGroup.
//!
//! Fields are set per negotiated version, because `kafka-protocol` refuses to encode a
//! non-default field that the chosen version lacks.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ConsumerProtocolSubscription, FindCoordinatorRequest, GroupId, HeartbeatRequest,
    JoinGroupRequest, LeaveGroupRequest, OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use transport_core::TransportError;

use std::sync::Arc;

use crate::assign::{Assignment, decode_assignment, range_assign};
use crate::cluster::{self, TopicMeta, code, refused};
use crate::config::{PullLogConfig, wire_ms};
use crate::conn::Conn;
use crate::incarnation::{self, Seen, TopicId};
use crate::with_timeout;

const PROTOCOL_TYPE: &str = "consumer";
const STRATEGY: &str = "range";

/// One member's view of the group protocol.
pub(crate) struct Proto {
    conn: Conn,
    group: GroupId,
    topic: String,
    partitions: Vec<i32>,
    /// The topic id this connection's Metadata reported (the log offsets here refer to).
    topic_id: Option<TopicId>,
    seen: Arc<Seen>,
    member_id: StrBytes,
    generation: i32,
    /// Where a partition without a committed offset starts ([`cluster::LATEST`] or
    /// [`cluster::EARLIEST`]).
    reset_to: i64,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    timeout: Duration,
}

/// Whether an error code means "rejoin the group"; resets the member id when it is unknown.
fn needs_rejoin(code: i16, member_id: &mut StrBytes) -> bool {
    if code == code::UNKNOWN_MEMBER_ID {
        *member_id = StrBytes::default();
    }
    matches!(
        code,
        code::REBALANCE_IN_PROGRESS | code::ILLEGAL_GENERATION | code::UNKNOWN_MEMBER_ID
    )
}

/// Asks for `group`'s coordinator until it is available, then ends the handshake.
async fn find_coordinator(conn: &mut Conn, group: &str) -> Result<(), TransportError> {
    loop {
        let mut req = FindCoordinatorRequest::default();
        req.key = StrBytes::from_string(group.to_owned());
        let resp = conn.call(&req, "find coordinator").await?;
        match resp.error_code {
            0 => break,
            code::COORDINATOR_NOT_AVAILABLE | code::COORDINATOR_LOAD_IN_PROGRESS => {
                // The coordinator is starting; ask again shortly.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            c => return Err(refused("find coordinator", c, group)),
        }
    }
    conn.end_handshake();
    Ok(())
}

impl Proto {
    /// Checks that the broker coordinates `group` (single-broker: on this connection).
    pub(crate) async fn new(
        mut conn: Conn,
        config: &PullLogConfig,
        group: &str,
        topic: &str,
        meta: TopicMeta,
        seen: Arc<Seen>,
    ) -> Result<Proto, TransportError> {
        find_coordinator(&mut conn, group).await?;
        Ok(Proto {
            conn,
            group: GroupId(StrBytes::from_string(group.to_owned())),
            topic: topic.to_owned(),
            partitions: meta.partitions,
            topic_id: meta.id,
            seen,
            member_id: StrBytes::default(),
            generation: -1,
            reset_to: cluster::LATEST,
            session_timeout: config.session_timeout,
            rebalance_timeout: config.rebalance_timeout,
            timeout: config.request_timeout,
        })
    }

    /// Continues on a fresh connection after the old one broke. The member id is kept (the
    /// coordinator answers UNKNOWN_MEMBER_ID if it forgot it). Metadata first: the topic may
    /// be another incarnation now (new id, maybe other partitions). From now on a partition
    /// without a committed offset starts at the log *start*: the coordinator may have lost the
    /// group's offsets in a restart, and re-reading is better than skipping.
    pub(crate) async fn reconnect(&mut self, mut conn: Conn) -> Result<(), TransportError> {
        let meta = cluster::topic_meta(&mut conn, &self.topic, self.timeout).await?;
        find_coordinator(&mut conn, self.group.0.as_str()).await?;
        self.seen.observe(meta.id);
        self.topic_id = incarnation::retag(self.topic_id, meta.id);
        self.partitions = meta.partitions;
        self.conn = conn;
        self.reset_to = cluster::EARLIEST;
        Ok(())
    }

    /// The topic id the coordinator connection last saw.
    pub(crate) fn topic_id(&self) -> Option<TopicId> {
        self.topic_id
    }

    fn version(&self, key: ApiKey, stage: &'static str) -> Result<i16, TransportError> {
        self.conn.versions.get(key, stage)
    }

    /// Joins (or rejoins) and syncs; returns this member's partitions and start offsets.
    /// `previous` holds the offsets this member had consumed before the rebalance (none if they
    /// belong to another incarnation of the topic); `same_log` says they were read in the very
    /// log this connection sees (equal topic ids), so they are good start positions even
    /// where the group has no commit.
    pub(crate) async fn join_and_sync(
        &mut self,
        previous: &BTreeMap<i32, i64>,
        same_log: bool,
    ) -> Result<Assignment, TransportError> {
        loop {
            let (leader, members) = self.join().await?;
            let assignments = if leader {
                range_assign(&members, &self.partitions, &self.topic)
            } else {
                Vec::new()
            };
            let mut req = SyncGroupRequest::default();
            req.group_id = self.group.clone();
            req.generation_id = self.generation;
            req.member_id = self.member_id.clone();
            if self.version(ApiKey::SyncGroup, "sync group")? >= 5 {
                req.protocol_type = Some(StrBytes::from_static_str(PROTOCOL_TYPE));
                req.protocol_name = Some(StrBytes::from_static_str(STRATEGY));
            }
            req.assignments = assignments;
            let bound = self.rebalance_timeout + self.timeout;
            let resp =
                with_timeout("sync group", bound, self.conn.call(&req, "sync group")).await?;
            if needs_rejoin(resp.error_code, &mut self.member_id) {
                continue;
            }
            if resp.error_code != 0 {
                return Err(refused("sync group", resp.error_code, "sync"));
            }
            let mut mine = decode_assignment(resp.assignment, &self.topic)?;
            mine.sort_unstable();
            let committed = self.fetch_offsets(&mine).await?;
            // What this member returned itself may be ahead of a commit that was off or
            // failed. A partition with no committed offset at all is trusted to it only when
            // the topic id proves it is the same log: without ids, a restarted broker's log
            // may have started again from 0.
            let mut starts = committed;
            for (p, at) in starts.iter_mut() {
                if let Some(&own) = previous.get(p) {
                    *at = (*at).max(own);
                }
            }
            let mut pinned = BTreeMap::new();
            let mut missing = Vec::new();
            for &p in mine.iter().filter(|p| !starts.contains_key(p)) {
                match previous.get(&p) {
                    Some(&own) if same_log => {
                        pinned.insert(p, own);
                    }
                    _ => missing.push(p),
                }
            }
            if !missing.is_empty() {
                let ends = with_timeout(
                    "list offsets",
                    self.timeout,
                    cluster::list_offsets(&mut self.conn, &self.topic, &missing, self.reset_to),
                )
                .await?;
                pinned.extend(ends);
            }
            if !pinned.is_empty() {
                // Pin the start so whoever owns the partition next resumes from here.
                if self.commit(&pinned).await? {
                    continue;
                }
                starts.extend(pinned);
            }
            return Ok(Assignment {
                seq: 0, // numbered by the task
                generation: self.generation,
                topic_id: self.topic_id,
                partitions: starts.into_iter().collect(),
            });
        }
    }

    /// JoinGroup until accepted; returns whether this member leads, and the member ids.
    async fn join(&mut self) -> Result<(bool, Vec<StrBytes>), TransportError> {
        let mut sub = ConsumerProtocolSubscription::default();
        sub.topics = vec![StrBytes::from_string(self.topic.clone())];
        let mut metadata = BytesMut::new();
        metadata.put_i16(0);
        sub.encode(&mut metadata, 0)
            .map_err(|e| TransportError::protocol("join group", e.to_string()))?;
        let metadata = metadata.freeze();
        loop {
            let mut proto = JoinGroupRequestProtocol::default();
            proto.name = StrBytes::from_static_str(STRATEGY);
            proto.metadata = metadata.clone();
            let mut req = JoinGroupRequest::default();
            req.group_id = self.group.clone();
            req.session_timeout_ms = wire_ms(self.session_timeout);
            req.rebalance_timeout_ms = wire_ms(self.rebalance_timeout);
            req.member_id = self.member_id.clone();
            req.protocol_type = StrBytes::from_static_str(PROTOCOL_TYPE);
            req.protocols = vec![proto];
            let bound = self.rebalance_timeout + self.timeout;
            let resp =
                with_timeout("join group", bound, self.conn.call(&req, "join group")).await?;
            match resp.error_code {
                0 => {
                    self.member_id = resp.member_id;
                    self.generation = resp.generation_id;
                    let leader = resp.leader == self.member_id;
                    let members = resp.members.into_iter().map(|m| m.member_id).collect();
                    return Ok((leader, members));
                }
                code::MEMBER_ID_REQUIRED => self.member_id = resp.member_id,
                code::UNKNOWN_MEMBER_ID => self.member_id = StrBytes::default(),
                code::REBALANCE_IN_PROGRESS
                | code::COORDINATOR_LOAD_IN_PROGRESS
                | code::COORDINATOR_NOT_AVAILABLE => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                c => return Err(refused("join group", c, "join")),
            }
        }
    }

    /// Committed offsets of `partitions` (those with none are left out).
    async fn fetch_offsets(
        &mut self,
        partitions: &[i32],
    ) -> Result<BTreeMap<i32, i64>, TransportError> {
        let mut t = OffsetFetchRequestTopic::default();
        t.name = cluster::topic_name(&self.topic);
        t.partition_indexes = partitions.to_vec();
        let mut req = OffsetFetchRequest::default();
        req.group_id = self.group.clone();
        req.topics = Some(vec![t]);
        let resp = with_timeout(
            "offset fetch",
            self.timeout,
            self.conn.call(&req, "offset fetch"),
        )
        .await?;
        if resp.error_code != 0 {
            return Err(refused("offset fetch", resp.error_code, "group"));
        }
        let mut out = BTreeMap::new();
        for t in resp
            .topics
            .iter()
            .filter(|t| t.name.0.as_str() == self.topic)
        {
            for p in &t.partitions {
                if p.error_code != 0 {
                    return Err(refused("offset fetch", p.error_code, "partition"));
                }
                if p.committed_offset >= 0 && partitions.contains(&p.partition_index) {
                    out.insert(p.partition_index, p.committed_offset);
                }
            }
        }
        Ok(out)
    }

    /// Commits `offsets`; returns true if the coordinator says to rejoin.
    pub(crate) async fn commit(
        &mut self,
        offsets: &BTreeMap<i32, i64>,
    ) -> Result<bool, TransportError> {
        if offsets.is_empty() {
            return Ok(false);
        }
        let mut t = OffsetCommitRequestTopic::default();
        t.name = cluster::topic_name(&self.topic);
        t.partitions = offsets
            .iter()
            .map(|(&p, &o)| {
                let mut cp = OffsetCommitRequestPartition::default();
                cp.partition_index = p;
                cp.committed_offset = o;
                cp
            })
            .collect();
        let mut req = OffsetCommitRequest::default();
        req.group_id = self.group.clone();
        req.generation_id_or_member_epoch = self.generation;
        req.member_id = self.member_id.clone();
        req.topics = vec![t];
        let resp = with_timeout("commit", self.timeout, self.conn.call(&req, "commit")).await?;
        for p in resp.topics.iter().flat_map(|t| t.partitions.iter()) {
            if needs_rejoin(p.error_code, &mut self.member_id) {
                return Ok(true);
            }
            if p.error_code != 0 {
                return Err(refused("commit", p.error_code, "partition"));
            }
        }
        Ok(false)
    }

    /// One heartbeat; returns true if the member must rejoin.
    pub(crate) async fn heartbeat(&mut self) -> Result<bool, TransportError> {
        let mut req = HeartbeatRequest::default();
        req.group_id = self.group.clone();
        req.generation_id = self.generation;
        req.member_id = self.member_id.clone();
        let resp =
            with_timeout("heartbeat", self.timeout, self.conn.call(&req, "heartbeat")).await?;
        if needs_rejoin(resp.error_code, &mut self.member_id) {
            return Ok(true);
        }
        if resp.error_code != 0 {
            return Err(refused("heartbeat", resp.error_code, "heartbeat"));
        }
        Ok(false)
    }

    /// Leaves the group, so the others rebalance at once instead of after a session timeout.
    pub(crate) async fn leave(&mut self) -> Result<(), TransportError> {
        let mut req = LeaveGroupRequest::default();
        req.group_id = self.group.clone();
        if self.version(ApiKey::LeaveGroup, "leave group")? >= 3 {
            let mut m = MemberIdentity::default();
            m.member_id = self.member_id.clone();
            req.members = vec![m];
        } else {
            req.member_id = self.member_id.clone();
        }
        let resp = with_timeout(
            "leave group",
            self.timeout,
            self.conn.call(&req, "leave group"),
        )
        .await?;
        self.conn.shutdown().await;
        // An unknown member has already been removed, which is what leaving wants.
        match resp.error_code {
            0 | code::UNKNOWN_MEMBER_ID => Ok(()),
            c => Err(refused("leave group", c, "leave")),
        }
    }
}
