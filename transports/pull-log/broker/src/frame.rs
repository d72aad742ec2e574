//! Size-prefixed Kafka frames, read and written: the one codec the broker and the pull-log
//! client share.
//!
//! Every Kafka request and response is an i32 length followed by that many bytes. The length
//! comes from the peer, so it is untrusted: it is checked against the reader's limit, and even
//! a length within it reserves nothing up front: the buffer grows as the frame's bytes actually
//! arrive, so a peer that claims a large frame and sends a few bytes costs a few bytes. A frame
//! is only handed on once all of it has arrived. What is inside a frame (headers, bodies) is
//! the caller's business.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Why a connection's input cannot be read as frames any more.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection between frames.
    #[error("connection closed")]
    Closed,
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed mid-frame")]
    Truncated,
    /// The size prefix is negative or over the limit (or, writing, the frame is too large for
    /// its size prefix).
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
#[derive(Debug)]
pub struct FrameReader {
    buf: BytesMut,
    limit: u32,
}

impl FrameReader {
    /// A reader that refuses frames larger than `limit` bytes.
    pub fn new(limit: u32) -> Self {
        FrameReader {
            buf: BytesMut::with_capacity(READ_CHUNK),
            limit,
        }
    }

    /// Whether a complete frame is already buffered (so the caller can answer it before
    /// flushing earlier responses).
    pub fn has_frame(&self) -> bool {
        matches!(self.frame_len(), Ok(Some(n)) if self.buf.len() >= 4 + n)
    }

    /// The largest frame this reader accepts.
    pub fn limit(&self) -> u32 {
        self.limit
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
    pub fn wants_more(&self) -> bool {
        self.buf.len() < self.limit as usize + 4
    }

    /// Reads whatever is available into the buffer (cancel-safe); `Ok(0)` means end of
    /// stream. Used while a request is being handled, to notice a peer that went away.
    pub async fn fill<R: AsyncRead + Unpin>(&mut self, io: &mut R) -> std::io::Result<usize> {
        self.buf.reserve(4096);
        io.read_buf(&mut self.buf).await
    }

    /// The next frame's payload (without its size prefix).
    pub async fn next<R: AsyncRead + Unpin>(&mut self, io: &mut R) -> Result<Bytes, FrameError> {
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

/// Starts a frame at the end of `buf` with a placeholder size, for [`finish_frame`] to patch
/// once the frame's bytes follow it. Returns where the frame starts.
pub fn start_frame(buf: &mut BytesMut) -> usize {
    let start = buf.len();
    buf.put_i32(0);
    start
}

/// Writes the size of the frame begun at `start` by [`start_frame`] (everything after its
/// size prefix up to the end of `buf`); a frame too large for the i32 size is refused.
pub fn finish_frame(buf: &mut BytesMut, start: usize) -> Result<(), FrameError> {
    let len = buf.len() - start - 4;
    let size = i32::try_from(len).map_err(|_| FrameError::Size {
        size: len as i64,
        limit: i32::MAX as u32,
    })?;
    buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
    Ok(())
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
    fn written_frames_read_back() {
        let mut buf = BytesMut::from(&b"xy"[..]);
        let start = start_frame(&mut buf);
        buf.extend_from_slice(&[1, 2, 3]);
        finish_frame(&mut buf, start).unwrap();
        assert_eq!(&buf[..], &[b'x', b'y', 0, 0, 0, 3, 1, 2, 3]);
    }
}
