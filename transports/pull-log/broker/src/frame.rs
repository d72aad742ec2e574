//! Size-prefixed framing and request headers.
//!
//! Every Kafka request is an i32 length followed by that many bytes: a header (api key,
//! version, correlation id, client id, and tagged fields in flexible versions) and the body.
//! The length is checked against the configured limit, and even a length within it reserves
//! nothing up front: the buffer grows as the frame's bytes actually arrive, so a peer that
//! claims a large frame and sends a few bytes costs a few bytes. A frame is only handed on
//! once all of it has arrived.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::guard::{Cursor, GuardError};

/// Why a connection's input cannot be read as frames any more.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    /// The peer closed the connection between frames.
    #[error("connection closed")]
    Closed,
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed mid-frame")]
    Truncated,
    /// The size prefix is negative or over the limit.
    #[error("frame size {size} outside 0..={limit}")]
    Size {
        /// The size the peer claimed.
        size: i64,
        /// The configured limit.
        limit: u32,
    },
    /// Reading failed.
    #[error("read: {0}")]
    Io(#[from] std::io::Error),
}

/// Most the buffer grows by ahead of the bytes that have arrived (also its initial size).
const READ_CHUNK: usize = 64 * 1024;

/// Reads whole frames from a stream, with a bounded buffer.
pub(crate) struct FrameReader {
    buf: BytesMut,
    limit: u32,
}

impl FrameReader {
    /// A reader that refuses frames larger than `limit` bytes.
    pub(crate) fn new(limit: u32) -> Self {
        FrameReader {
            buf: BytesMut::with_capacity(READ_CHUNK),
            limit,
        }
    }

    /// Whether a complete frame is already buffered (so the caller can answer it before
    /// flushing earlier responses).
    pub(crate) fn has_frame(&self) -> bool {
        matches!(self.frame_len(), Ok(Some(n)) if self.buf.len() >= 4 + n)
    }

    fn frame_len(&self) -> Result<Option<usize>, FrameError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let size = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        if size < 0 || size as u32 > self.limit {
            return Err(FrameError::Size {
                size: i64::from(size),
                limit: self.limit,
            });
        }
        Ok(Some(size as usize))
    }

    /// Whether reading ahead is still within bounds: at most one maximal frame is buffered.
    pub(crate) fn wants_more(&self) -> bool {
        self.buf.len() < self.limit as usize + 4
    }

    /// Reads whatever is available into the buffer (cancel-safe); `Ok(0)` means end of
    /// stream. Used while a request is being handled, to notice a peer that went away.
    pub(crate) async fn fill<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
    ) -> std::io::Result<usize> {
        self.buf.reserve(4096);
        io.read_buf(&mut self.buf).await
    }

    /// The next frame's payload (without its size prefix).
    pub(crate) async fn next<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
    ) -> Result<Bytes, FrameError> {
        loop {
            if let Some(n) = self.frame_len()? {
                if self.buf.len() >= 4 + n {
                    self.buf.advance(4);
                    return Ok(self.buf.split_to(n).freeze());
                }
                // Grow by at most a chunk beyond what has arrived, never by the declared size:
                // many connections each claiming a maximal frame must not reserve it each.
                self.buf.reserve((4 + n - self.buf.len()).min(READ_CHUNK));
            } else {
                self.buf.reserve(4096);
            }
            if io.read_buf(&mut self.buf).await? == 0 {
                return Err(if self.buf.is_empty() {
                    FrameError::Closed
                } else {
                    FrameError::Truncated
                });
            }
        }
    }
}

/// A parsed request header; the body follows it in the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestHeader {
    /// The API key.
    pub(crate) api_key: i16,
    /// The API version.
    pub(crate) api_version: i16,
    /// Echoed in the response.
    pub(crate) correlation_id: i32,
}

/// Reads the fixed header fields (key, version, correlation id, client id). Tagged fields of a
/// v2 header are read by [`skip_header_tags`] once the caller knows the header version.
pub(crate) fn parse_header(frame: &[u8]) -> Result<(RequestHeader, usize), GuardError> {
    let mut c = Cursor::new(frame);
    let api_key = c.i16()?;
    let api_version = c.i16()?;
    let correlation_id = c.i32()?;
    // The client id is a classic nullable string even in flexible headers.
    let len = c.i16()?;
    if len > 0 {
        c.take(len as usize)?;
    }
    let header = RequestHeader {
        api_key,
        api_version,
        correlation_id,
    };
    Ok((header, c.pos()))
}

/// Skips the tagged-field section of a v2 (flexible) request header starting at `at`,
/// returning where the body starts.
pub(crate) fn skip_header_tags(frame: &[u8], at: usize) -> Result<usize, GuardError> {
    let rest = frame.get(at..).unwrap_or_default();
    let mut c = Cursor::new(rest);
    c.skip_tags(&[], 0)?;
    Ok(at + c.pos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_frames_and_rejects_oversized() {
        let mut input: &[u8] = &[0, 0, 0, 2, 7, 8, 0, 0, 0, 1, 9];
        let mut r = FrameReader::new(1024);
        assert_eq!(&r.next(&mut input).await.unwrap()[..], &[7, 8]);
        assert_eq!(&r.next(&mut input).await.unwrap()[..], &[9]);
        assert!(matches!(r.next(&mut input).await, Err(FrameError::Closed)));

        let mut big: &[u8] = &[0x7f, 0xff, 0xff, 0xff, 0];
        let mut r = FrameReader::new(1024);
        assert!(matches!(
            r.next(&mut big).await,
            Err(FrameError::Size { .. })
        ));
        let mut neg: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        let mut r = FrameReader::new(1024);
        assert!(matches!(
            r.next(&mut neg).await,
            Err(FrameError::Size { .. })
        ));
    }

    #[tokio::test]
    async fn a_declared_size_reserves_nothing_until_bytes_arrive() {
        // A 16 MiB frame is declared, then only 10 bytes follow before the stream ends.
        let mut input: &[u8] = &[0x01, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        let mut r = FrameReader::new(32 << 20);
        assert!(matches!(
            r.next(&mut input).await,
            Err(FrameError::Truncated)
        ));
        assert!(r.buf.capacity() <= 2 * READ_CHUNK, "{}", r.buf.capacity());

        // A large frame that does arrive in full is still read whole.
        let payload = vec![7u8; 3 * READ_CHUNK + 5];
        let mut input = (payload.len() as u32).to_be_bytes().to_vec();
        input.extend_from_slice(&payload);
        let mut r = FrameReader::new(1 << 20);
        assert_eq!(r.next(&mut &input[..]).await.unwrap(), payload);
    }

    #[test]
    fn parses_header() {
        let frame = [0, 18, 0, 3, 0, 0, 0, 42, 0, 2, b'k', b'c', 0, 0xAA];
        let (h, at) = parse_header(&frame).unwrap();
        assert_eq!((h.api_key, h.api_version, h.correlation_id), (18, 3, 42));
        assert_eq!(skip_header_tags(&frame, at).unwrap(), 13);
        assert!(parse_header(&frame[..5]).is_err());
    }
}
