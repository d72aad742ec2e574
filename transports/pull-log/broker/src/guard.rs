//! Pre-validation of request bodies before `kafka-protocol` decodes them.
//!
//! `kafka-protocol` 0.18 sizes arrays with `Vec::with_capacity(count)` and strings with
//! `vec![0; len]` straight from the wire, so a 20-byte request claiming 2^31 elements makes the
//! process try to allocate ~150 GB and *abort* (not panic). This module walks a body with the
//! same layout the decoder uses (see [`crate::schema`]) and rejects it when any array count,
//! string or bytes length exceeds the bytes actually left. Only bodies that pass are decoded.
//!
//! The walk mirrors the decoder exactly (same fields per version, same varint rules, same
//! treatment of known tagged fields), so the decoder never reads a length the walk did not check.

use crate::schema::{Struct, Ty};

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
}

impl<'a> Cursor<'a> {
    /// Starts at the beginning of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
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

    /// Checks that `count` elements of at least one byte each can still follow.
    fn check_count(&self, count: u64) -> Result<(), GuardError> {
        if count > self.remaining() as u64 {
            return self.fail("element count exceeds remaining bytes");
        }
        Ok(())
    }

    /// Skips a string (or bytes) whose length prefix is an i16/i32 (classic) or a varint
    /// holding length + 1 (compact). `-1` / `0` mean null.
    fn skip_len_prefixed(&mut self, flexible: bool, wide: bool) -> Result<(), GuardError> {
        let len: i64 = if flexible {
            i64::from(self.uvarint()?) - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        match len {
            -1 => Ok(()),
            n if n < 0 => self.fail("negative length"),
            n => self.take(n as usize).map(|_| ()),
        }
    }

    /// Skips a tagged-field section, walking known tags with their schema because the decoder
    /// reads those from the stream rather than from a bounded slice.
    pub(crate) fn skip_tags(
        &mut self,
        known: &[(u32, Ty)],
        version: i16,
    ) -> Result<(), GuardError> {
        let count = self.uvarint()?;
        self.check_count(u64::from(count))?;
        for _ in 0..count {
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            match known.iter().find(|(t, _)| *t == tag) {
                Some((_, ty)) => {
                    if size > self.remaining() {
                        return self.fail("tagged field exceeds remaining bytes");
                    }
                    self.walk_ty(ty, version, true)?;
                }
                None => {
                    self.take(size)?;
                }
            }
        }
        Ok(())
    }

    fn walk_ty(&mut self, ty: &Ty, version: i16, flexible: bool) -> Result<(), GuardError> {
        match ty {
            Ty::I8 | Ty::Bool => self.take(1).map(|_| ()),
            Ty::I16 => self.take(2).map(|_| ()),
            Ty::I32 => self.take(4).map(|_| ()),
            Ty::I64 => self.take(8).map(|_| ()),
            Ty::Uuid => self.take(16).map(|_| ()),
            Ty::Str => self.skip_len_prefixed(flexible, false),
            Ty::Bytes => self.skip_len_prefixed(flexible, true),
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
                if count <= 0 {
                    return Ok(());
                }
                self.check_count(count as u64)?;
                for _ in 0..count {
                    self.walk_ty(elem, version, flexible)?;
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
        for f in s.fields {
            if version >= f.min && version <= f.max {
                self.walk_ty(&f.ty, version, flexible)?;
            }
        }
        if flexible {
            self.skip_tags(s.tags, version)?;
        }
        Ok(())
    }
}

/// Checks a request body of `schema` at `version` (flexible or not) before decoding.
pub(crate) fn check_body(
    body: &[u8],
    schema: &Struct,
    version: i16,
    flexible: bool,
) -> Result<(), GuardError> {
    Cursor::new(body).walk_struct(schema, version, flexible)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema;

    #[test]
    fn rejects_huge_metadata_topic_count() {
        // Metadata v4: topics array claiming 2^31-1 entries, then nothing.
        let body = [0x7f, 0xff, 0xff, 0xff, 0x01];
        let e = check_body(&body, &schema::METADATA, 4, false).unwrap_err();
        assert_eq!(e.what, "element count exceeds remaining bytes");
    }

    #[test]
    fn rejects_huge_compact_string() {
        // ApiVersions v3: client_software_name with varint length 2^28.
        let body = [0x80, 0x80, 0x80, 0x80, 0x01, 0x00, 0x00];
        assert!(check_body(&body, &schema::API_VERSIONS, 3, true).is_err());
    }

    #[test]
    fn accepts_valid_metadata() {
        // Metadata v4: one topic "ab", allow auto create.
        let body = [0, 0, 0, 1, 0, 2, b'a', b'b', 1];
        check_body(&body, &schema::METADATA, 4, false).unwrap();
        // Null topic array (v1+ means all topics).
        check_body(&[0xff, 0xff, 0xff, 0xff, 1], &schema::METADATA, 4, false).unwrap();
    }

    #[test]
    fn never_panics_on_random_prefixes() {
        let body = [
            0x00, 0x00, 0x00, 0x02, 0x00, 0x01, b'x', 0xff, 0xff, 0xff, 0xfe,
        ];
        for n in 0..body.len() {
            let _ = check_body(&body[..n], &schema::PRODUCE, 7, false);
            let _ = check_body(&body[..n], &schema::FETCH, 12, true);
        }
    }
}
