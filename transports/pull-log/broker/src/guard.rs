//! Pre-validation of request bodies before `kafka-protocol` decodes them.
//!
//! `kafka-protocol` 0.18 sizes arrays with `Vec::with_capacity(count)` and strings with
//! `vec![0; len]` straight from the wire, so a 20-byte request claiming 2^31 elements makes the
//! process try to allocate ~150 GB and *abort* (not panic). This module walks a body with the
//! same layout the decoder uses (see [`crate::schema`]) and rejects it before anything
//! allocates when
//! - a string or bytes length exceeds the bytes actually left;
//! - an array's `count × (fewest wire bytes of one element)` exceeds the bytes left (an element
//!   of two wire bytes, such as an empty topic name, still needs those two bytes);
//! - a `-1` (null) length appears where the definition does not allow null;
//! - the decoded arrays would take more memory than the caller's budget: a two-byte element
//!   can decode to a ~70-byte struct, so even a count that fits the bytes would let one
//!   maximal request reserve tens of times its own size. The budget bounds that product.
//!
//! Only bodies that pass are decoded.
//!
//! The walk mirrors the decoder exactly (same fields per version, same varint rules, same
//! treatment of known tagged fields), so the decoder never reads a length the walk did not check.

use crate::schema::{Field, Struct, TAG_ENTRY_MEM, Ty, mem_size, min_wire};

/// Why a body was rejected before decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed request at byte {at}: {what}")]
pub struct GuardError {
    /// Offset into the body where the problem was found.
    pub at: usize,
    /// What was wrong.
    pub what: &'static str,
}

/// A read position over a body.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Decoded-array memory still allowed, in bytes.
    budget: usize,
}

impl<'a> Cursor<'a> {
    /// Starts at the beginning of `buf`, with no memory budget (for headers and layout checks).
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self::with_budget(buf, usize::MAX)
    }

    /// Starts at the beginning of `buf`; the arrays walked may decode to at most `budget` bytes.
    pub(crate) fn with_budget(buf: &'a [u8], budget: usize) -> Self {
        Cursor {
            buf,
            pos: 0,
            budget,
        }
    }

    /// Bytes consumed so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn fail<T>(&self, what: &'static str) -> Result<T, GuardError> {
        Err(GuardError { at: self.pos, what })
    }

    /// Takes `n` bytes, or fails if fewer are left.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], GuardError> {
        if n > self.remaining() {
            return self.fail("length exceeds remaining bytes");
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// A big-endian i16.
    pub(crate) fn i16(&mut self) -> Result<i16, GuardError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    /// A big-endian i32.
    pub(crate) fn i32(&mut self) -> Result<i32, GuardError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An unsigned varint exactly as `kafka-protocol` reads it: at most five bytes, stopping
    /// at the first byte without the continuation bit, extra high bits dropped.
    pub(crate) fn uvarint(&mut self) -> Result<u32, GuardError> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = u32::from(self.take(1)?[0]);
            value |= (b & 0x7F).wrapping_shl(i * 7);
            if b < 0x80 {
                break;
            }
        }
        Ok(value)
    }

    /// Checks that `count` elements of at least `min_wire` bytes each can still follow, and
    /// that `count` decoded elements of `mem` bytes each fit the remaining memory budget.
    fn check_count(&mut self, count: u64, min_wire: usize, mem: usize) -> Result<(), GuardError> {
        // u64 products of a u32-range count and small sizes cannot overflow.
        if count.saturating_mul(min_wire.max(1) as u64) > self.remaining() as u64 {
            return self.fail("element count exceeds remaining bytes");
        }
        let need = count.saturating_mul(mem as u64);
        if need > self.budget as u64 {
            return self.fail("decoded size exceeds the request memory budget");
        }
        self.budget -= need as usize;
        Ok(())
    }

    /// Accepts a `-1` (null) length only where the field allows null.
    fn null_ok(&self, nullable: bool) -> Result<(), GuardError> {
        if nullable {
            Ok(())
        } else {
            self.fail("null length for a non-nullable field")
        }
    }

    /// Skips a string (or bytes) whose length prefix is an i16/i32 (classic) or a varint
    /// holding length + 1 (compact). `-1` / `0` mean null.
    fn skip_len_prefixed(
        &mut self,
        flexible: bool,
        wide: bool,
        nullable: bool,
    ) -> Result<(), GuardError> {
        let len: i64 = if flexible {
            i64::from(self.uvarint()?) - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        match len {
            -1 => self.null_ok(nullable),
            n if n < 0 => self.fail("negative length"),
            n => self.take(n as usize).map(|_| ()),
        }
    }

    /// Skips a tagged-field section, walking known tags with their schema because the decoder
    /// reads those from the stream rather than from a bounded slice.
    pub(crate) fn skip_tags(
        &mut self,
        known: &[(u32, Field)],
        version: i16,
    ) -> Result<(), GuardError> {
        let count = self.uvarint()?;
        // Each entry is at least a tag and a size varint; unknown ones are kept in a map.
        self.check_count(u64::from(count), 2, TAG_ENTRY_MEM)?;
        for _ in 0..count {
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            match known.iter().find(|(t, _)| *t == tag) {
                Some((_, field)) => {
                    if size > self.remaining() {
                        return self.fail("tagged field exceeds remaining bytes");
                    }
                    self.walk_ty(&field.ty, version, true, field.nullable(version))?;
                }
                None => {
                    self.take(size)?;
                }
            }
        }
        Ok(())
    }

    /// Walks one value of `ty`; `nullable` says whether its field allows a `-1` length here
    /// (elements inside arrays never do).
    fn walk_ty(
        &mut self,
        ty: &Ty,
        version: i16,
        flexible: bool,
        nullable: bool,
    ) -> Result<(), GuardError> {
        match ty {
            Ty::I8 | Ty::Bool => self.take(1).map(|_| ()),
            Ty::I16 => self.take(2).map(|_| ()),
            Ty::I32 => self.take(4).map(|_| ()),
            Ty::I64 => self.take(8).map(|_| ()),
            Ty::Uuid => self.take(16).map(|_| ()),
            Ty::Str => self.skip_len_prefixed(flexible, false, nullable),
            Ty::Bytes => self.skip_len_prefixed(flexible, true, nullable),
            Ty::Obj(s) => self.walk_struct(s, version, flexible),
            Ty::Arr(elem) => {
                let count: i64 = if flexible {
                    i64::from(self.uvarint()?) - 1
                } else {
                    i64::from(self.i32()?)
                };
                if count < -1 {
                    return self.fail("negative array length");
                }
                if count == -1 {
                    return self.null_ok(nullable);
                }
                if count == 0 {
                    return Ok(());
                }
                let min = min_wire(elem, version, flexible);
                self.check_count(count as u64, min, mem_size(elem))?;
                for _ in 0..count {
                    self.walk_ty(elem, version, flexible, false)?;
                }
                Ok(())
            }
        }
    }

    /// Walks one struct: its fields present in `version`, then (flexible) its tag section.
    pub(crate) fn walk_struct(
        &mut self,
        s: &Struct,
        version: i16,
        flexible: bool,
    ) -> Result<(), GuardError> {
        for f in s.fields.iter().filter(|f| f.present(version)) {
            self.walk_ty(&f.ty, version, flexible, f.nullable(version))?;
        }
        if flexible {
            self.skip_tags(s.tags, version)?;
        }
        Ok(())
    }
}

/// Checks a request body of `schema` at `version` (flexible or not) before decoding; its
/// arrays may decode to at most `budget` bytes of memory.
pub(crate) fn check_body(
    body: &[u8],
    schema: &Struct,
    version: i16,
    flexible: bool,
    budget: usize,
) -> Result<(), GuardError> {
    Cursor::with_budget(body, budget).walk_struct(schema, version, flexible)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema;

    const MB: usize = 1 << 20;

    /// Metadata v4 body: `count` topics, then `names` raw bytes, then allow-auto-create.
    fn metadata_v4(count: i32, names: &[u8]) -> Vec<u8> {
        let mut b = count.to_be_bytes().to_vec();
        b.extend_from_slice(names);
        b.push(1);
        b
    }

    #[test]
    fn rejects_null_for_non_nullable_fields() {
        // Metadata v4 topic names are not nullable (only from v10): `-1` is refused…
        let body = metadata_v4(2, &[0xff, 0xff, 0xff, 0xff]);
        let e = check_body(&body, &schema::METADATA, 4, false, MB).unwrap_err();
        assert_eq!(e.what, "null length for a non-nullable field");
        // …while empty names are fine, and a null topic array is allowed from v1 only.
        check_body(&metadata_v4(2, &[0; 4]), &schema::METADATA, 4, false, MB).unwrap();
        let null_array = [0xff, 0xff, 0xff, 0xff];
        assert!(check_body(&null_array, &schema::METADATA, 0, false, MB).is_err());
        check_body(&null_array, &schema::METADATA, 1, false, MB).unwrap();
    }

    #[test]
    fn count_must_fit_the_minimum_element_size() {
        // 10 topics of at least 2 bytes each cannot fit in 10 bytes (the old one-byte check
        // let this through).
        let body = metadata_v4(10, &[0; 10]);
        let e = check_body(&body, &schema::METADATA, 4, false, MB).unwrap_err();
        assert_eq!(e.what, "element count exceeds remaining bytes");
    }

    #[test]
    fn decoded_size_is_bounded_by_the_budget() {
        // 1000 empty names fit the bytes (2000) but decode to ~1000 structs of tens of bytes.
        let body = metadata_v4(1000, &[0; 2000]);
        let e = check_body(&body, &schema::METADATA, 4, false, 16 * 1024).unwrap_err();
        assert_eq!(e.what, "decoded size exceeds the request memory budget");
        check_body(&body, &schema::METADATA, 4, false, MB).unwrap();
    }

    #[test]
    fn rejects_huge_metadata_topic_count() {
        // Metadata v4: topics array claiming 2^31-1 entries, then nothing.
        let body = [0x7f, 0xff, 0xff, 0xff, 0x01];
        let e = check_body(&body, &schema::METADATA, 4, false, MB).unwrap_err();
        assert_eq!(e.what, "element count exceeds remaining bytes");
    }

    #[test]
    fn rejects_huge_compact_string() {
        // ApiVersions v3: client_software_name with varint length 2^28.
        let body = [0x80, 0x80, 0x80, 0x80, 0x01, 0x00, 0x00];
        assert!(check_body(&body, &schema::API_VERSIONS, 3, true, MB).is_err());
    }

    #[test]
    fn accepts_valid_metadata() {
        // Metadata v4: one topic "ab", allow auto create.
        let body = [0, 0, 0, 1, 0, 2, b'a', b'b', 1];
        check_body(&body, &schema::METADATA, 4, false, MB).unwrap();
        // Null topic array (v1+ means all topics).
        check_body(
            &[0xff, 0xff, 0xff, 0xff, 1],
            &schema::METADATA,
            4,
            false,
            MB,
        )
        .unwrap();
    }

    #[test]
    fn never_panics_on_random_prefixes() {
        let body = [
            0x00, 0x00, 0x00, 0x02, 0x00, 0x01, b'x', 0xff, 0xff, 0xff, 0xfe,
        ];
        for n in 0..body.len() {
            let _ = check_body(&body[..n], &schema::PRODUCE, 7, false, MB);
            let _ = check_body(&body[..n], &schema::FETCH, 12, true, MB);
        }
    }
}
