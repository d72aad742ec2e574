//! One partition's append-only log: record batches kept as bytes, offsets assigned in place,
//! optionally mirrored to segment files (see [`crate::segment`]).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use transport_core::occupancy::RetainedGauges;

use crate::batch::{self, BatchError, StoredBatch};
use crate::producer_state::{BatchSeq, ProducerStates, Verdict};
use crate::segment::SegmentWriter;

/// Why an append failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AppendError {
    /// The produced bytes are not valid v2 batches.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// An idempotent resend of batches already appended at this base offset: nothing was
    /// appended, and the producer is answered with success and this offset.
    #[error("duplicate of the batch at offset {0}")]
    Duplicate(i64),
    /// The producer's sequence or epoch does not fit: this Kafka error code.
    #[error("producer sequence refused with error {0}")]
    Sequence(i16),
    /// Writing the segment file failed.
    #[error("segment write: {0}")]
    Io(#[from] std::io::Error),
}

/// What a read returns.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadResult {
    /// Concatenated batches (empty when nothing is at or after the offset).
    pub(crate) records: Bytes,
    /// Offset of the next record to be written.
    pub(crate) high_watermark: i64,
    /// Earliest offset still held.
    pub(crate) log_start: i64,
}

/// One partition.
#[derive(Debug)]
pub(crate) struct PartitionLog {
    batches: VecDeque<StoredBatch>,
    log_start: i64,
    next_offset: i64,
    bytes: u64,
    retention_bytes: u64,
    segment: Option<SegmentWriter>,
    /// Idempotent producers' recent batches (memory only, see [`crate::producer_state`]).
    producers: ProducerStates,
    /// The server's gauges of what every partition retains, and this log's part in them.
    retained: RetainedGauges,
    reported: (u64, u64),
}

impl PartitionLog {
    /// An empty log, written through to `segment` if given.
    pub(crate) fn new(retention_bytes: u64, segment: Option<SegmentWriter>) -> Self {
        PartitionLog {
            batches: VecDeque::new(),
            log_start: 0,
            next_offset: 0,
            bytes: 0,
            retention_bytes,
            segment,
            producers: ProducerStates::default(),
            retained: RetainedGauges::detached(),
            reported: (0, 0),
        }
    }

    /// The same log, its records and bytes counted in `retained`.
    pub(crate) fn reporting(mut self, retained: RetainedGauges) -> Self {
        self.retained.remove(self.reported.0, self.reported.1);
        self.retained = retained;
        self.reported = (0, 0);
        self.report();
        self
    }

    /// Moves the gauges by what the log gained or lost since it last reported: records
    /// (offsets) between the log start and the high watermark, and batch bytes.
    fn report(&mut self) {
        let now = (
            (self.next_offset - self.log_start).max(0) as u64,
            self.bytes,
        );
        let (was_records, was_bytes) = self.reported;
        self.retained.remove(was_records, was_bytes);
        self.retained.add(now.0, now.1);
        self.reported = now;
    }

    /// Restores batches read back from segment files (already carrying their offsets).
    pub(crate) fn restore(&mut self, stored: Vec<StoredBatch>) {
        for b in stored {
            if b.base < self.next_offset {
                continue; // overlapping data from an interrupted roll: keep the first copy
            }
            if self.batches.is_empty() {
                self.log_start = b.base;
            }
            self.next_offset = b.end;
            self.bytes += b.data.len() as u64;
            self.batches.push_back(b);
        }
        self.enforce_retention();
        self.report();
    }

    /// Offset of the next record to be written (the high watermark: this broker is the only
    /// replica, so everything appended is committed).
    pub(crate) fn high_watermark(&self) -> i64 {
        self.next_offset
    }

    /// Earliest offset still held.
    pub(crate) fn log_start(&self) -> i64 {
        self.log_start
    }

    /// Appends every batch in `records`, assigning offsets; returns the first assigned offset.
    /// Either all batches are appended or none. Batches of idempotent producers are checked
    /// against their last sequences first: a resend of what is already here is
    /// [`AppendError::Duplicate`], a gap [`AppendError::Sequence`].
    pub(crate) fn append(&mut self, records: &[u8]) -> Result<i64, AppendError> {
        let spans = batch::scan(records, false)?;
        if spans.is_empty() {
            return Err(AppendError::Batch(BatchError::Truncated));
        }
        let seqs: Vec<Option<BatchSeq>> = spans
            .iter()
            .map(|s| batch::producer_seq(records, s))
            .collect();
        for (i, seq) in seqs.iter().enumerate() {
            let Some(seq) = seq else { continue };
            let prev = seqs[..i]
                .iter()
                .rev()
                .flatten()
                .find(|p| p.producer_id == seq.producer_id);
            match self.producers.check(seq, prev) {
                Verdict::Append => {}
                // Only a whole request can be a resend: a duplicate after new batches is not.
                Verdict::Duplicate(base) if i == 0 => return Err(AppendError::Duplicate(base)),
                Verdict::Duplicate(_) => {
                    return Err(AppendError::Sequence(
                        crate::producer_state::OUT_OF_ORDER_SEQUENCE_NUMBER,
                    ));
                }
                Verdict::Reject(code) => return Err(AppendError::Sequence(code)),
            }
        }
        let first = self.next_offset;
        let mut next = first;
        let mut new = Vec::with_capacity(spans.len());
        for span in &spans {
            let data = batch::with_base_offset(records, span, next);
            new.push(StoredBatch {
                base: next,
                end: next + span.offsets,
                data,
            });
            next += span.offsets;
        }
        if let Some(seg) = &mut self.segment {
            seg.append(first, new.iter().map(|b| &b.data[..]))?;
        }
        for (seq, b) in seqs.iter().zip(&new) {
            if let Some(seq) = seq {
                self.producers.appended(seq, b.base);
            }
        }
        for b in new {
            self.bytes += b.data.len() as u64;
            self.batches.push_back(b);
        }
        self.next_offset = next;
        self.enforce_retention();
        self.report();
        Ok(first)
    }

    fn enforce_retention(&mut self) {
        let before = self.log_start;
        while self.bytes > self.retention_bytes && self.batches.len() > 1 {
            if let Some(old) = self.batches.pop_front() {
                self.bytes -= old.data.len() as u64;
            }
            if let Some(front) = self.batches.front() {
                self.log_start = front.base;
            }
        }
        if self.log_start != before
            && let Some(seg) = &mut self.segment
        {
            seg.delete_before(self.log_start);
        }
    }

    /// Batches from the one holding `offset` on, up to `max_bytes`. With `allow_oversize`
    /// the first batch is returned even when larger than the limit, so a big batch still makes
    /// progress (Kafka does the same for the first partition of a fetch).
    /// `None` when `offset` is outside `log_start..=high_watermark`.
    pub(crate) fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        allow_oversize: bool,
    ) -> Option<ReadResult> {
        if offset < self.log_start || offset > self.next_offset {
            return None;
        }
        let mut result = ReadResult {
            records: Bytes::new(),
            high_watermark: self.next_offset,
            log_start: self.log_start,
        };
        // First batch whose end is past `offset`.
        let idx = self.batches.partition_point(|b| b.end <= offset);
        let mut taken: Vec<&Bytes> = Vec::new();
        let mut size = 0usize;
        for b in self.batches.iter().skip(idx) {
            if size + b.data.len() > max_bytes && !(taken.is_empty() && allow_oversize) {
                break;
            }
            size += b.data.len();
            taken.push(&b.data);
            if size >= max_bytes {
                break;
            }
        }
        result.records = match taken.as_slice() {
            [] => Bytes::new(),
            [one] => (*one).clone(),
            many => {
                let mut buf = BytesMut::with_capacity(size);
                for b in many {
                    buf.extend_from_slice(b);
                }
                buf.freeze()
            }
        };
        Some(result)
    }

    /// The base offset of the first batch whose max timestamp is at or after `ts`, or the high
    /// watermark if there is none (ListOffsets by time). A linear scan: rare, and logs here are
    /// benchmark-sized.
    pub(crate) fn offset_for_timestamp(&self, ts: i64) -> i64 {
        self.batches
            .iter()
            .find(|b| batch::max_timestamp(&b.data) >= ts)
            .map_or(self.next_offset, |b| b.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::tests::fake_batch;

    #[test]
    fn assigns_offsets_and_reads_from_the_middle() {
        let mut log = PartitionLog::new(u64::MAX, None);
        assert_eq!(log.append(&fake_batch(3, 5)).unwrap(), 0);
        let mut two = fake_batch(2, 0);
        two.extend(fake_batch(1, 0));
        assert_eq!(log.append(&two).unwrap(), 3);
        assert_eq!(log.high_watermark(), 6);
        let r = log.read(4, 1 << 20, true).unwrap();
        let spans = batch::scan(&r.records, false).unwrap();
        assert_eq!(
            spans.iter().map(|s| s.base_offset).collect::<Vec<_>>(),
            vec![3, 5]
        );
        // Always at least one batch, even over the byte limit.
        assert_eq!(
            batch::scan(&log.read(0, 1, true).unwrap().records, false)
                .unwrap()
                .len(),
            1
        );
        assert!(log.read(6, 100, true).unwrap().records.is_empty());
        assert!(log.read(7, 100, true).is_none());
        assert!(log.read(0, 1, false).unwrap().records.is_empty());
        assert!(log.append(&[1, 2, 3]).is_err());
    }

    #[test]
    fn retention_drops_oldest() {
        let mut log = PartitionLog::new(100, None);
        for _ in 0..4 {
            log.append(&fake_batch(1, 20)).unwrap();
        }
        assert_eq!(log.log_start(), 3);
        assert!(log.read(0, 100, true).is_none());
    }
}

#[cfg(test)]
#[path = "log_segment_tests.rs"]
mod segment_tests;
