//! Fetch (with parking) and ListOffsets.
//!
//! A Fetch that finds fewer than `min_bytes` parks: it waits for its topic's "appended"
//! signal (the broker-wide one for multi-topic fetches), re-reads, and returns as soon as
//! `min_bytes` are there, when `max_wait_ms` runs out (capped by `max_fetch_wait_ms`), or at
//! shutdown. Nothing polls in a loop: the task sleeps until a produce wakes it or its deadline
//! passes.

use std::time::Duration;

use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::*;
use tokio::time::Instant;

use crate::state::{Shared, stopped};

const OFFSET_OUT_OF_RANGE: i16 = 1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

/// One pass over the requested partitions: the response, its record bytes, and whether any
/// partition reported an error (which returns at once, as Kafka does).
fn read_once(shared: &Shared, req: &FetchRequest) -> (FetchResponse, usize, bool) {
    let mut r = FetchResponse::default();
    let mut total = 0usize;
    let mut any_error = false;
    let max_total = usize::try_from(req.max_bytes.max(0)).unwrap_or(usize::MAX);
    for t in &req.topics {
        let topic = shared.topics.get(t.topic.0.as_str());
        let mut tr = FetchableTopicResponse::default();
        tr.topic = t.topic.clone();
        for p in &t.partitions {
            let mut pd = PartitionData::default();
            pd.partition_index = p.partition;
            let log = topic.as_ref().and_then(|t| t.partition(p.partition));
            match log {
                None => {
                    pd.error_code = UNKNOWN_TOPIC_OR_PARTITION;
                    any_error = true;
                }
                Some(log) => {
                    let part_max = usize::try_from(p.partition_max_bytes.max(0)).unwrap_or(0);
                    let limit = part_max.min(max_total.saturating_sub(total));
                    // Only the first non-empty partition may exceed the limits with one batch.
                    let allow_oversize = total == 0;
                    match log.read(p.fetch_offset, limit, allow_oversize) {
                        None => {
                            pd.error_code = OFFSET_OUT_OF_RANGE;
                            pd.high_watermark = log.high_watermark();
                            pd.last_stable_offset = log.high_watermark();
                            pd.log_start_offset = log.log_start();
                            any_error = true;
                        }
                        Some(read) => {
                            pd.high_watermark = read.high_watermark;
                            pd.last_stable_offset = read.high_watermark;
                            pd.log_start_offset = read.log_start;
                            total += read.records.len();
                            pd.records = Some(read.records);
                        }
                    }
                }
            }
            tr.partitions.push(pd);
        }
        r.responses.push(tr);
    }
    (r, total, any_error)
}

/// Handles a Fetch, parking until `min_bytes` are available or `max_wait_ms` passes.
pub(super) async fn fetch(shared: &Shared, req: FetchRequest) -> FetchResponse {
    shared.counters.fetches.inc();
    let wait = Duration::from_millis(u64::try_from(req.max_wait_ms.max(0)).unwrap_or(0))
        .min(shared.config.max_fetch_wait());
    let deadline = Instant::now() + wait;
    let min_bytes = usize::try_from(req.min_bytes.max(0)).unwrap_or(0);
    // A fetch on one topic (the usual case) waits on that topic's signal, so produces to other
    // topics do not wake it; a multi-topic fetch waits on the broker-wide one.
    let single = match req.topics.as_slice() {
        [t] => shared.topics.get(t.topic.0.as_str()),
        _ => None,
    };
    let mut appended = match &single {
        Some(t) => t.subscribe(),
        None => shared.topics.subscribe(),
    };
    let mut shutdown = shared.shutdown.clone();
    let mut parked = false;
    loop {
        // Mark the current version seen *before* reading, so an append racing with the read
        // still wakes the wait below.
        appended.borrow_and_update();
        let (resp, bytes, error) = read_once(shared, &req);
        // min_bytes <= 0 answers at once, as in Kafka.
        let done = bytes >= min_bytes
            || error
            || *shutdown.borrow()
            || Instant::now() >= deadline
            || req.topics.is_empty();
        if done {
            if bytes == 0 {
                shared.counters.empty_fetches.inc();
            } else {
                shared.drain.delivered();
            }
            return resp;
        }
        if !parked {
            parked = true;
            shared.counters.parked_fetches.inc();
        }
        tokio::select! {
            changed = appended.changed() => {
                if changed.is_err() {
                    return resp;
                }
            }
            _ = tokio::time::sleep_until(deadline) => {}
            // Shutdown (or the broker handle dropped): answer with what is there.
            () = stopped(&mut shutdown) => return resp,
        }
    }
}

/// ListOffsets: latest (-1) is the high watermark, earliest (-2) the log start.
pub(super) fn list_offsets(shared: &Shared, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let mut r = ListOffsetsResponse::default();
    for t in req.topics {
        let topic = shared.topics.get(t.name.0.as_str());
        let mut tr = ListOffsetsTopicResponse::default();
        tr.name = t.name;
        for p in t.partitions {
            let mut pr = ListOffsetsPartitionResponse::default();
            pr.partition_index = p.partition_index;
            pr.timestamp = -1;
            match topic.as_ref().and_then(|t| t.partition(p.partition_index)) {
                None => {
                    pr.error_code = UNKNOWN_TOPIC_OR_PARTITION;
                    pr.offset = -1;
                }
                Some(log) => {
                    pr.offset = match p.timestamp {
                        -1 => log.high_watermark(),
                        -2 => log.log_start(),
                        // -3 (v7, max timestamp): approximated by the last record.
                        -3 => (log.high_watermark() - 1).max(log.log_start()),
                        ts => log.offset_for_timestamp(ts),
                    };
                }
            }
            tr.partitions.push(pr);
        }
        r.topics.push(tr);
    }
    r
}
