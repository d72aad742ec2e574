//! Record batches as bytes: the few header fields the broker reads, and the in-place base
//! offset rewrite.
//!
//! The broker never decodes records. A v2 record batch starts with its base offset (i64) and
//! length (i32); the CRC covers only the bytes from `attributes` on, so assigning offsets is an
//! 8-byte overwrite that leaves the batch valid.

use bytes::{Bytes, BytesMut};

use crate::producer_state::{BatchSeq, last_seq};

/// Bytes before the batch length's end: base offset (8) + batch length (4).
const LOG_OVERHEAD: usize = 12;
/// A v2 batch header is 61 bytes; the length field counts from after itself.
const MIN_BATCH_LENGTH: usize = 61 - LOG_OVERHEAD;
const MAGIC_AT: usize = 16;
const LAST_OFFSET_DELTA_AT: usize = 23;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORD_COUNT_AT: usize = 57;

/// A stored batch and the offsets it spans.
#[derive(Debug, Clone)]
pub(crate) struct StoredBatch {
    /// First offset in the batch.
    pub(crate) base: i64,
    /// One past its last offset.
    pub(crate) end: i64,
    /// The batch bytes, base offset already rewritten.
    pub(crate) data: Bytes,
}

/// Why produced bytes are not acceptable batches.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// A batch header or length runs past the data.
    #[error("truncated record batch")]
    Truncated,
    /// Only v2 batches (magic 2) are stored.
    #[error("unsupported record batch magic {0}")]
    Magic(i8),
    /// The header's counts are inconsistent.
    #[error("invalid record batch header")]
    Invalid,
}

/// Where one batch lies in a buffer, and how many offsets it spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchSpan {
    /// Start within the buffer.
    pub(crate) start: usize,
    /// Total length, header included.
    pub(crate) len: usize,
    /// Offsets it occupies (last offset delta + 1).
    pub(crate) offsets: i64,
    /// The base offset currently written in it.
    pub(crate) base_offset: i64,
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Splits `data` into batches, checking each header. A trailing partial batch is an error
/// unless `allow_partial_tail` (reading a segment file cut short by a crash), in which case
/// the scan stops before it.
pub(crate) fn scan(data: &[u8], allow_partial_tail: bool) -> Result<Vec<BatchSpan>, BatchError> {
    let mut spans = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let rest = &data[at..];
        if rest.len() < LOG_OVERHEAD + MIN_BATCH_LENGTH {
            if allow_partial_tail {
                break;
            }
            return Err(BatchError::Truncated);
        }
        let batch_length = be_i32(rest, 8);
        if batch_length < MIN_BATCH_LENGTH as i32 {
            return Err(BatchError::Invalid);
        }
        let len = LOG_OVERHEAD + batch_length as usize;
        if rest.len() < len {
            if allow_partial_tail {
                break;
            }
            return Err(BatchError::Truncated);
        }
        let magic = rest[MAGIC_AT] as i8;
        if magic != 2 {
            return Err(BatchError::Magic(magic));
        }
        let last_delta = be_i32(rest, LAST_OFFSET_DELTA_AT);
        let count = be_i32(rest, RECORD_COUNT_AT);
        if last_delta < 0 || count < 0 || count > last_delta.saturating_add(1) {
            return Err(BatchError::Invalid);
        }
        let mut base = [0u8; 8];
        base.copy_from_slice(&rest[..8]);
        spans.push(BatchSpan {
            start: at,
            len,
            offsets: i64::from(last_delta) + 1,
            base_offset: i64::from_be_bytes(base),
        });
        at += len;
    }
    Ok(spans)
}

/// The idempotence fields of a scanned batch, or `None` when it carries no producer id.
pub(crate) fn producer_seq(data: &[u8], span: &BatchSpan) -> Option<BatchSeq> {
    let h = &data[span.start..span.start + span.len];
    let mut pid = [0u8; 8];
    pid.copy_from_slice(&h[PRODUCER_ID_AT..PRODUCER_ID_AT + 8]);
    let producer_id = i64::from_be_bytes(pid);
    if producer_id < 0 {
        return None;
    }
    let epoch = i16::from_be_bytes([h[PRODUCER_EPOCH_AT], h[PRODUCER_EPOCH_AT + 1]]);
    let first = be_i32(h, BASE_SEQUENCE_AT);
    Some(BatchSeq {
        producer_id,
        epoch,
        first,
        last: last_seq(first, span.offsets),
    })
}

/// The batch's max timestamp (header bytes 35..43); `data` is a scanned batch.
pub(crate) fn max_timestamp(data: &[u8]) -> i64 {
    let mut ts = [0u8; 8];
    if let Some(b) = data.get(35..43) {
        ts.copy_from_slice(b);
    }
    i64::from_be_bytes(ts)
}

/// A copy of `data[span]` with its base offset set to `base`.
pub(crate) fn with_base_offset(data: &[u8], span: &BatchSpan, base: i64) -> Bytes {
    let mut b = BytesMut::from(&data[span.start..span.start + span.len]);
    b[..8].copy_from_slice(&base.to_be_bytes());
    b.freeze()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal well-formed batch header with `n` offsets and a fake record body.
    pub(crate) fn fake_batch(n: i32, body_len: usize) -> Vec<u8> {
        let mut b = vec![0u8; 61 + body_len];
        let batch_length = (61 - 12 + body_len) as i32;
        b[8..12].copy_from_slice(&batch_length.to_be_bytes());
        b[16] = 2;
        b[23..27].copy_from_slice(&(n - 1).to_be_bytes());
        b[57..61].copy_from_slice(&n.to_be_bytes());
        // Not idempotent: producer id, epoch and base sequence all -1.
        b[43..57].fill(0xff);
        b
    }

    #[test]
    fn scans_and_rewrites() {
        let mut data = fake_batch(3, 10);
        data.extend(fake_batch(1, 0));
        let spans = scan(&data, false).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!((spans[0].offsets, spans[1].offsets), (3, 1));
        let b = with_base_offset(&data, &spans[1], 77);
        assert_eq!(scan(&b, false).unwrap()[0].base_offset, 77);
        assert_eq!(scan(&data[..70], false), Err(BatchError::Truncated));
        assert_eq!(scan(&data[..80], true).unwrap().len(), 1);
        let mut bad = fake_batch(1, 0);
        bad[16] = 1;
        assert_eq!(scan(&bad, false), Err(BatchError::Magic(1)));
    }
}
