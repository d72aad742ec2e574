//! Produce: appends each partition's batches to its log and wakes parked fetches. Resends of
//! an idempotent producer's batches are answered without appending (see `producer_state`).

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::*;

use crate::log::AppendError;
use crate::state::Shared;

const CORRUPT_MESSAGE: i16 = 2;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// What a draining broker answers: this broker no longer leads the partition, ask again.
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const INVALID_REQUIRED_ACKS: i16 = 21;
const KAFKA_STORAGE_ERROR: i16 = 56;

/// Handles a Produce request. With acks = 0 the caller discards the response.
pub(super) fn produce(shared: &Shared, req: ProduceRequest) -> ProduceResponse {
    shared.counters.produce_requests.inc();
    let acks_ok = (-1..=1).contains(&req.acks);
    let mut appended = false;
    let mut r = ProduceResponse::default();
    for t in req.topic_data {
        let topic = if acks_ok {
            shared.topics.get_or_auto_create(t.name.0.as_str())
        } else {
            None
        };
        let mut topic_grew = false;
        let mut tr = TopicProduceResponse::default();
        tr.name = t.name;
        for p in t.partition_data {
            let mut pr = PartitionProduceResponse::default();
            pr.index = p.index;
            pr.base_offset = -1;
            pr.log_append_time_ms = -1;
            let log = topic.as_ref().and_then(|t| t.partition(p.index));
            match (log, p.records) {
                _ if !acks_ok => pr.error_code = INVALID_REQUIRED_ACKS,
                _ if shared.drain.draining() => pr.error_code = NOT_LEADER_OR_FOLLOWER,
                (None, _) => pr.error_code = UNKNOWN_TOPIC_OR_PARTITION,
                (Some(_), None) => pr.error_code = CORRUPT_MESSAGE,
                (Some(mut log), Some(records)) => {
                    match log.append(&records) {
                        Ok(base) => {
                            pr.base_offset = base;
                            appended = true;
                            topic_grew = true;
                            shared.counters.produced_batches.inc();
                        }
                        Err(AppendError::Duplicate(base)) => {
                            // A resend whose answer was lost: the original answer again.
                            pr.base_offset = base;
                            shared.counters.duplicate_batches.inc();
                        }
                        Err(AppendError::Sequence(code)) => {
                            pr.error_code = code;
                            shared.counters.sequence_errors.inc();
                        }
                        Err(AppendError::Batch(_)) => pr.error_code = CORRUPT_MESSAGE,
                        Err(AppendError::Io(_)) => pr.error_code = KAFKA_STORAGE_ERROR,
                    }
                    pr.log_start_offset = log.log_start();
                }
            }
            tr.partition_responses.push(pr);
        }
        if let (true, Some(t)) = (topic_grew, &topic) {
            t.notify_appended();
        }
        r.responses.push(tr);
    }
    if appended {
        shared.topics.notify_appended();
    }
    r
}
