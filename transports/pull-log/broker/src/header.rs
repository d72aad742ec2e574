//! Kafka request headers: the fields the broker reads before it knows which request a frame
//! holds (api key, version, correlation id, client id), and the tagged-field section of a
//! flexible (v2) header.

use crate::guard::{Cursor, GuardError};

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

    #[test]
    fn parses_header() {
        let frame = [0, 18, 0, 3, 0, 0, 0, 42, 0, 2, b'k', b'c', 0, 0xAA];
        let (h, at) = parse_header(&frame).unwrap();
        assert_eq!((h.api_key, h.api_version, h.correlation_id), (18, 3, 42));
        assert_eq!(skip_header_tags(&frame, at).unwrap(), 13);
        assert!(parse_header(&frame[..5]).is_err());
    }
}
