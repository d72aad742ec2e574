//! What a member is assigned ([`Assignment`]), the range assignment a group leader computes,
//! and the consumer-protocol encoding of assignments in SyncGroup (`i16` version, then
//! `ConsumerProtocolAssignment`). The membership task (`group`) and its requests
//! (`group_proto`) both use the type, so it lives here rather than in either of them.
//!
//! Every member of a pull-log group subscribes to the same single topic, so the leader does
//! not need the members' subscription metadata to assign.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ConsumerProtocolAssignment;
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartitions;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use transport_core::TransportError;

use crate::cluster;
use crate::incarnation::TopicId;

/// Which partitions a member reads in one generation, and where each starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    /// Counts this member's assignments. The subscriber follows this, not the generation: a
    /// restarted coordinator numbers generations from the start again.
    pub seq: u64,
    /// The group generation it belongs to.
    pub generation: i32,
    /// The topic id the start offsets belong to.
    pub topic_id: Option<TopicId>,
    /// (partition, start offset), sorted by partition.
    pub partitions: Vec<(i32, i64)>,
}

/// The range strategy: sorted members get contiguous runs of the sorted partitions, the first
/// `partitions % members` one extra each.
pub(crate) fn range_assign(
    members: &[StrBytes],
    partitions: &[i32],
    topic: &str,
) -> Vec<SyncGroupRequestAssignment> {
    let mut ids: Vec<&StrBytes> = members.iter().collect();
    ids.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut sorted = partitions.to_vec();
    sorted.sort_unstable();
    let per = sorted.len() / ids.len().max(1);
    let extra = sorted.len() % ids.len().max(1);
    let mut next = 0;
    let mut out = Vec::with_capacity(ids.len());
    for (i, id) in ids.into_iter().enumerate() {
        let n = per + usize::from(i < extra);
        let mut tp = AssignedPartitions::default();
        tp.topic = cluster::topic_name(topic);
        tp.partitions = sorted[next..next + n].to_vec();
        next += n;
        let mut a = ConsumerProtocolAssignment::default();
        a.assigned_partitions = vec![tp];
        let mut buf = BytesMut::new();
        buf.put_i16(0);
        // Encoding plain integers and one string at version 0 cannot fail.
        let _ = a.encode(&mut buf, 0);
        let mut s = SyncGroupRequestAssignment::default();
        s.member_id = id.clone();
        s.assignment = buf.freeze();
        out.push(s);
    }
    out
}

/// This member's partitions of `topic` from a SyncGroup assignment (empty bytes: none).
pub(crate) fn decode_assignment(mut bytes: Bytes, topic: &str) -> Result<Vec<i32>, TransportError> {
    if bytes.len() < 2 {
        return Ok(Vec::new());
    }
    let version = bytes.get_i16().clamp(0, 3);
    let a = ConsumerProtocolAssignment::decode(&mut bytes, version)
        .map_err(|e| TransportError::protocol("sync group", format!("assignment: {e}")))?;
    Ok(a.assigned_partitions
        .into_iter()
        .filter(|t| t.topic.0.as_str() == topic)
        .flat_map(|t| t.partitions)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_assignment_covers_every_partition_once() {
        let members: Vec<StrBytes> = ["c", "a", "b"]
            .iter()
            .map(|s| StrBytes::from_static_str(s))
            .collect();
        let got = range_assign(&members, &[4, 0, 1, 2, 3, 5, 6], "t");
        let by_member: Vec<(String, Vec<i32>)> = got
            .into_iter()
            .map(|s| {
                let parts = decode_assignment(s.assignment, "t").unwrap();
                (s.member_id.as_str().to_owned(), parts)
            })
            .collect();
        assert_eq!(
            by_member,
            vec![
                ("a".into(), vec![0, 1, 2]),
                ("b".into(), vec![3, 4]),
                ("c".into(), vec![5, 6]),
            ]
        );
    }
}
