//! Kafka record batches (magic v2) as this client writes and reads them: one record per
//! message, the message bytes as the value, no key, no headers, no compression.
//!
//! Written here rather than through `kafka-protocol`'s record codec for two reasons: the
//! fetch path sees bytes from whatever broker `bootstrap` points at, and that codec reserves
//! memory from the record and header counts on the wire before checking them; and values are
//! sliced out of the response (`Bytes::slice`) instead of copied. Every length read here is
//! checked against the bytes actually left, and the output grows only per record decoded.
//!
//! Batch layout (big-endian): base offset i64, batch length i32, partition leader epoch i32,
//! magic i8 = 2, CRC-32C u32 over everything after it, attributes i16, last offset delta i32,
//! base timestamp i64, max timestamp i64, producer id i64, producer epoch i16, base sequence
//! i32, record count i32, then the records. A record is: length varint, attributes i8,
//! timestamp delta varlong, offset delta varint, key length varint (-1 = null), key, value
//! length varint, value, header count varint, headers. Varints are zig-zag encoded.

use bytes::{BufMut, Bytes, BytesMut};

/// Bytes of the batch header from the partition leader epoch to the record count inclusive.
const HEADER_AFTER_LENGTH: usize = 49;
/// Offset of the magic byte from the start of the batch.
const MAGIC_AT: usize = 16;
/// Offset of the first CRC-covered byte (the attributes) from the start of the batch.
const CRC_FROM: usize = 21;

/// The idempotent producer fields of a batch header (KIP-98).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerSeq {
    /// Producer id from InitProducerId (`-1`: not idempotent).
    pub producer_id: i64,
    /// Its epoch.
    pub epoch: i16,
    /// Sequence number of the batch's first record in this partition.
    pub base_sequence: i32,
}

impl ProducerSeq {
    /// A non-idempotent batch: all three fields `-1`.
    pub const NONE: ProducerSeq = ProducerSeq {
        producer_id: -1,
        epoch: -1,
        base_sequence: -1,
    };
}

/// Appends one batch holding `values` as records `0..n` to `buf`; returns its size in bytes.
pub fn encode_batch(
    buf: &mut BytesMut,
    values: &[Bytes],
    timestamp_ms: i64,
    producer: ProducerSeq,
) -> usize {
    let start = buf.len();
    buf.put_i64(0); // base offset: the broker assigns offsets
    buf.put_i32(0); // batch length, patched below
    buf.put_i32(-1); // partition leader epoch: unknown to a producer
    buf.put_i8(2); // magic
    buf.put_u32(0); // CRC-32C, patched below
    buf.put_i16(0); // attributes: no compression, create time, not transactional
    buf.put_i32(values.len().saturating_sub(1) as i32); // last offset delta
    buf.put_i64(timestamp_ms); // base timestamp
    buf.put_i64(timestamp_ms); // max timestamp
    buf.put_i64(producer.producer_id);
    buf.put_i16(producer.epoch);
    buf.put_i32(producer.base_sequence);
    buf.put_i32(values.len() as i32); // record count
    for (delta, value) in values.iter().enumerate() {
        put_varint(buf, record_body(delta, value.len()) as i64);
        buf.put_i8(0); // attributes
        put_varint(buf, 0); // timestamp delta
        put_varint(buf, delta as i64); // offset delta
        put_varint(buf, -1); // key: null
        put_varint(buf, value.len() as i64);
        buf.put_slice(value);
        put_varint(buf, 0); // no headers
    }
    let len = buf.len() - start;
    let batch_len = (len - 12) as i32;
    buf[start + 8..start + 12].copy_from_slice(&batch_len.to_be_bytes());
    let crc = crc32c::crc32c(&buf[start + CRC_FROM..]);
    buf[start + 17..start + 21].copy_from_slice(&crc.to_be_bytes());
    len
}

/// Bytes of a record after its length prefix: attributes, timestamp delta (0), offset delta,
/// key length (-1), value length, value, header count (0).
fn record_body(delta: usize, value_len: usize) -> usize {
    4 + varint_len(delta as i64) + varint_len(value_len as i64) + value_len
}

/// Encoded size of the record at `delta` with a value of `value_len` bytes.
pub(crate) fn record_size(delta: usize, value_len: usize) -> usize {
    let body = record_body(delta, value_len);
    varint_len(body as i64) + body
}

/// The fixed part of a batch: everything but its records.
pub(crate) const BATCH_OVERHEAD: usize = 12 + HEADER_AFTER_LENGTH;

/// The outcome of decoding one partition's `records` from a fetch response.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// Offset after the last complete batch, if any batch was complete.
    pub next_offset: Option<i64>,
    /// Records appended to the output.
    pub records: usize,
}

/// Appends every record at or after `from` in the complete batches of `data` to `out` as
/// `(offset, value)`. A trailing partial batch (a fetch cut at its byte limit) is ignored;
/// anything else malformed is an error naming the problem.
pub fn decode_records(
    data: &Bytes,
    from: i64,
    out: &mut impl Extend<(i64, Bytes)>,
) -> Result<Decoded, String> {
    let mut d = Decoded::default();
    let mut at = 0usize;
    while data.len() - at >= 12 + HEADER_AFTER_LENGTH {
        let base = i64::from_be_bytes(array(&data[at..at + 8]));
        let batch_len = i32::from_be_bytes(array(&data[at + 8..at + 12]));
        let batch_len = usize::try_from(batch_len).map_err(|_| "negative batch length")?;
        if batch_len < HEADER_AFTER_LENGTH {
            return Err(format!("batch length {batch_len} is shorter than a header"));
        }
        if data.len() - at - 12 < batch_len {
            break; // partial batch at the end of the response
        }
        let end = at + 12 + batch_len;
        let batch = &data[at..end];
        if batch[MAGIC_AT] != 2 {
            return Err(format!(
                "unsupported record batch magic {}",
                batch[MAGIC_AT]
            ));
        }
        let crc = u32::from_be_bytes(array(&batch[17..21]));
        if crc32c::crc32c(&batch[CRC_FROM..]) != crc {
            return Err(format!("CRC mismatch in batch at offset {base}"));
        }
        let attributes = i16::from_be_bytes(array(&batch[21..23]));
        let last_delta = i32::from_be_bytes(array(&batch[23..27]));
        let count = i32::from_be_bytes(array(&batch[57..61]));
        if attributes & 0x7 != 0 {
            return Err("compressed batches are not supported by this client".into());
        }
        let control = attributes & (1 << 5) != 0;
        if !control {
            let mut r = Reader {
                data,
                at: at + 61,
                end,
            };
            for _ in 0..count.max(0) {
                let (delta, value) = r.record()?;
                let offset = base + delta;
                if offset >= from {
                    out.extend(Some((offset, value)));
                    d.records += 1;
                }
            }
        }
        d.next_offset = Some(base + i64::from(last_delta) + 1);
        at = end;
    }
    Ok(d)
}

fn array<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    a
}

/// A bounded cursor over one batch's records.
struct Reader<'a> {
    data: &'a Bytes,
    at: usize,
    end: usize,
}

impl Reader<'_> {
    fn varint(&mut self, max_bytes: usize) -> Result<i64, String> {
        let mut raw: u64 = 0;
        for i in 0..max_bytes {
            let b = *self.data[..self.end]
                .get(self.at)
                .ok_or("varint runs past the batch")?;
            self.at += 1;
            raw |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err("varint too long".into())
    }

    fn skip(&mut self, n: i64) -> Result<Bytes, String> {
        let n = usize::try_from(n).map_err(|_| "negative length in record")?;
        if n > self.end - self.at {
            return Err("length runs past the batch".into());
        }
        let s = self.data.slice(self.at..self.at + n);
        self.at += n;
        Ok(s)
    }

    /// One record: its offset delta and value (a null value reads as empty).
    fn record(&mut self) -> Result<(i64, Bytes), String> {
        let len = self.varint(5)?;
        let len = usize::try_from(len).map_err(|_| "negative record length")?;
        if len == 0 || len > self.end - self.at {
            return Err("record runs past the batch".into());
        }
        let outer_end = self.end;
        self.end = self.at + len;
        self.at += 1; // attributes
        self.varint(10)?; // timestamp delta
        let delta = self.varint(5)?;
        let key_len = self.varint(5)?;
        if key_len >= 0 {
            self.skip(key_len)?;
        }
        let value_len = self.varint(5)?;
        let value = if value_len >= 0 {
            self.skip(value_len)?
        } else {
            Bytes::new()
        };
        let headers = self.varint(5)?;
        for _ in 0..headers.max(0) {
            let k = self.varint(5)?;
            self.skip(k)?;
            let v = self.varint(5)?;
            if v >= 0 {
                self.skip(v)?;
            }
        }
        self.at = self.end;
        self.end = outer_end;
        Ok((delta, value))
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn varint_len(v: i64) -> usize {
    let mut z = zigzag(v);
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

fn put_varint(buf: &mut BytesMut, v: i64) {
    let mut z = zigzag(v);
    while z >= 0x80 {
        buf.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
