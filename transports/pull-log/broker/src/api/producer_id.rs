//! InitProducerId (API key 22) for idempotent producers: a fresh producer id with epoch 0, or
//! the caller's own id with its epoch bumped (v3+). Transactions are not implemented.

use kafka_protocol::messages::*;

use crate::state::Shared;

/// Kafka's INVALID_REQUEST: what a transactional producer gets here.
const INVALID_REQUEST: i16 = 42;

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
