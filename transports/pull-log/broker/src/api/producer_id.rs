//! InitProducerId (API key 22) for idempotent producers: a fresh producer id with epoch 0, or
//! the caller's own id with its epoch bumped (v3+). Transactions are not implemented.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::*;

use crate::state::Shared;

/// Kafka's INVALID_REQUEST: what a transactional producer gets here.
const INVALID_REQUEST: i16 = 42;

/// The producer id allocator.
#[derive(Debug)]
pub(crate) struct ProducerIds {
    /// The first id this broker process handed out.
    first: i64,
    next: AtomicI64,
}

impl ProducerIds {
    /// Starts at the wall clock in milliseconds, so a restarted broker (which has forgotten all
    /// producer state) does not hand out an id an earlier run gave to a producer still running.
    pub(crate) fn new() -> Self {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        ProducerIds {
            first: now_ms,
            next: AtomicI64::new(now_ms),
        }
    }

    fn fresh(&self) -> i64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether `id` was handed out by this process.
    fn ours(&self, id: i64) -> bool {
        id >= self.first && id < self.next.load(Ordering::Relaxed)
    }
}

/// Handles InitProducerId.
pub(super) fn init_producer_id(
    shared: &Shared,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let mut r = InitProducerIdResponse::default();
    r.producer_id = ProducerId(-1);
    r.producer_epoch = -1;
    if req.transactional_id.is_some() {
        r.error_code = INVALID_REQUEST;
        return r;
    }
    let (id, epoch) = (req.producer_id.0, req.producer_epoch);
    // A producer re-initialising (KIP-360) keeps its id with the next epoch, which fences its
    // older self; a bumped epoch restarts the sequences on every partition.
    if shared.producer_ids.ours(id) && (0..i16::MAX - 1).contains(&epoch) {
        r.producer_id = ProducerId(id);
        r.producer_epoch = epoch + 1;
    } else {
        r.producer_id = ProducerId(shared.producer_ids.fresh());
        r.producer_epoch = 0;
    }
    r
}
