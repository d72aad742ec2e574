//! One client connection to a Kafka-protocol broker: size-prefixed frames (the codec shared
//! with the broker, `transport_pull_log_broker::frame`), request headers with correlation ids,
//! and version negotiation through ApiVersions.
//!
//! Requests may be pipelined: [`Conn::send`] queues the correlation id and [`Conn::recv`] takes
//! the next response, which a Kafka broker returns in request order on one connection. The
//! socket goes through [`CountingIo`] with its bytes counted as handshake until the owner calls
//! [`Conn::end_handshake`] (after ApiVersions and Metadata).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use transport_core::{ClientContext, HandshakeFlag, TransportError};
use transport_pull_log_broker::frame::{self, FrameError};

type Io = transport_core::Conn;

/// The versions this client can speak, per API: (key, lowest, highest). Metadata goes up to
/// v12, whose answers carry topic ids (v10+), so a consumer can recognise a new incarnation of
/// its topic; the others stop below their switch to addressing topics by id, which this client
/// does not implement.
const WANTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Metadata, 1, 12),
    (ApiKey::Produce, 3, 9),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::FindCoordinator, 0, 3),
    (ApiKey::JoinGroup, 1, 7),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 4),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::InitProducerId, 0, 4),
];

/// The ApiVersions version sent first (flexible, and what current clients send).
const API_VERSIONS_VERSION: i16 = 3;

/// Kafka's UNSUPPORTED_VERSION error code.
const UNSUPPORTED_VERSION: i16 = 35;

/// The version negotiated for each API, or `None` if the broker and this client share none.
#[derive(Debug, Clone, Default)]
pub(crate) struct Versions(Vec<(i16, i16)>);

impl Versions {
    /// Intersects [`WANTED`] with the broker's ranges.
    fn negotiate(resp: &ApiVersionsResponse) -> Versions {
        let mut chosen = Vec::new();
        for &(key, lo, hi) in WANTED {
            let k = key as i16;
            if let Some(b) = resp.api_keys.iter().find(|a| a.api_key == k) {
                let v = hi.min(b.max_version);
                if v >= lo.max(b.min_version) {
                    chosen.push((k, v));
                }
            }
        }
        Versions(chosen)
    }

    /// The version to use for `key`, or an error naming the API the broker lacks.
    pub(crate) fn get(&self, key: ApiKey, stage: &'static str) -> Result<i16, TransportError> {
        self.0
            .iter()
            .find(|(k, _)| *k == key as i16)
            .map(|(_, v)| *v)
            .ok_or_else(|| TransportError::Refused {
                stage,
                detail: format!("broker supports no version of {key:?} this client speaks"),
            })
    }
}

/// Reads size-prefixed response frames through the broker crate's shared codec;
/// [`FrameReader::next_frame`] is cancel-safe because partial input stays in the codec's buffer.
pub(crate) struct FrameReader {
    io: ReadHalf<Io>,
    frames: frame::FrameReader,
}

impl FrameReader {
    /// The next whole frame (without its size prefix).
    pub(crate) async fn next_frame(&mut self) -> Result<Bytes, TransportError> {
        const STAGE: &str = "read response";
        let limit = self.frames.limit();
        let outside = |size: i64| {
            TransportError::protocol(STAGE, format!("frame size {size} outside 4..={limit}"))
        };
        match self.frames.next(&mut self.io).await {
            // Every response starts with its 4-byte correlation id.
            Ok(f) if f.len() >= 4 => Ok(f),
            Ok(f) => Err(outside(f.len() as i64)),
            Err(FrameError::Size { size, .. }) => Err(outside(size)),
            Err(FrameError::Closed | FrameError::Truncated) => {
                Err(TransportError::Closed { stage: STAGE })
            }
            Err(FrameError::Io(e)) => Err(TransportError::io(STAGE)(e)),
        }
    }
}

/// Encodes and writes requests.
pub(crate) struct FrameWriter {
    io: WriteHalf<Io>,
    buf: BytesMut,
    next_correlation: i32,
    client_id: StrBytes,
}

impl FrameWriter {
    /// Writes `req` at `version`; returns its correlation id.
    pub(crate) async fn send<R: Request>(
        &mut self,
        req: &R,
        version: i16,
    ) -> Result<i32, TransportError> {
        let correlation = self.next_correlation;
        self.next_correlation = self.next_correlation.wrapping_add(1);
        let key = ApiKey::try_from(R::KEY).map_err(|_| {
            TransportError::protocol("encode request", format!("unknown api key {}", R::KEY))
        })?;
        let mut header = RequestHeader::default();
        header.request_api_key = R::KEY;
        header.request_api_version = version;
        header.correlation_id = correlation;
        header.client_id = Some(self.client_id.clone());
        self.buf.clear();
        let start = frame::start_frame(&mut self.buf);
        let encoded = header
            .encode(&mut self.buf, key.request_header_version(version))
            .and_then(|()| req.encode(&mut self.buf, version));
        encoded.map_err(|e| TransportError::protocol("encode request", format!("{key:?}: {e}")))?;
        frame::finish_frame(&mut self.buf, start)
            .map_err(|e| TransportError::protocol("encode request", format!("{key:?}: {e}")))?;
        self.io
            .write_all(&self.buf)
            .await
            .map_err(TransportError::io("write request"))?;
        // Under TLS a write the socket could not take whole stays in the session's buffer until
        // a flush; over plain TCP this is a no-op.
        self.io
            .flush()
            .await
            .map_err(TransportError::io("write request"))?;
        Ok(correlation)
    }

    /// Half-closes the connection.
    pub(crate) async fn shutdown(&mut self) {
        // The peer may already be gone; closing is best effort.
        let _ = self.io.shutdown().await;
    }
}

/// Decodes a response frame for request type `R` sent as `correlation` at `version`.
pub(crate) fn decode_response<R: Request>(
    mut frame: Bytes,
    correlation: i32,
    version: i16,
) -> Result<R::Response, TransportError> {
    let stage = "decode response";
    let key = ApiKey::try_from(R::KEY)
        .map_err(|_| TransportError::protocol(stage, format!("unknown api key {}", R::KEY)))?;
    let header = ResponseHeader::decode(&mut frame, key.response_header_version(version))
        .map_err(|e| TransportError::protocol(stage, format!("{key:?} header: {e}")))?;
    if header.correlation_id != correlation {
        return Err(TransportError::protocol(
            stage,
            format!(
                "{key:?}: correlation id {} where {correlation} was due",
                header.correlation_id
            ),
        ));
    }
    R::Response::decode(&mut frame, version)
        .map_err(|e| TransportError::protocol(stage, format!("{key:?} v{version}: {e}")))
}

/// Whether an error is a broken or stalled connection worth reconnecting for. The producer,
/// the fetcher and the group membership all reconnect on exactly these.
pub(crate) fn retriable(e: &TransportError) -> bool {
    matches!(
        e,
        TransportError::Io { .. } | TransportError::Closed { .. } | TransportError::Timeout { .. }
    )
}

/// A connection with negotiated versions and an in-order queue of outstanding requests.
pub(crate) struct Conn {
    /// The read side; borrow it separately from `writer` to read while a send is pending.
    pub(crate) reader: FrameReader,
    /// The write side.
    pub(crate) writer: FrameWriter,
    /// Outstanding requests in send order: (correlation id, version).
    pub(crate) pending: VecDeque<(i32, i16)>,
    /// Versions agreed with the broker.
    pub(crate) versions: Versions,
    handshake: HandshakeFlag,
}

impl Conn {
    /// Connects to `addr`, applies the socket options and negotiates versions.
    pub(crate) async fn connect(
        addr: &str,
        ctx: &ClientContext,
        client_id: String,
        max_frame: usize,
    ) -> Result<Conn, TransportError> {
        let io = ctx.open(addr).await?;
        let handshake = io.handshake_flag();
        let (rd, wr) = tokio::io::split(io);
        let mut conn = Conn {
            reader: FrameReader {
                io: rd,
                // Kafka sizes are i32: a larger limit than that could never be reached anyway.
                frames: frame::FrameReader::new(u32::try_from(max_frame).unwrap_or(u32::MAX)),
            },
            writer: FrameWriter {
                io: wr,
                buf: BytesMut::new(),
                next_correlation: 1,
                client_id: StrBytes::from_string(client_id),
            },
            pending: VecDeque::new(),
            versions: Versions::default(),
            handshake,
        };
        let mut req = ApiVersionsRequest::default();
        req.client_software_name = StrBytes::from_static_str("transport-bench");
        req.client_software_version = StrBytes::from_static_str(env!("CARGO_PKG_VERSION"));
        let correlation = conn.writer.send(&req, API_VERSIONS_VERSION).await?;
        let frame = conn.reader.next_frame().await?;
        // A broker that does not know v3 answers in the v0 layout with UNSUPPORTED_VERSION and
        // its own version ranges (KIP-511); those ranges are all negotiation needs. The error
        // code is the first field of the body in every version, after the 4-byte header.
        let version = match frame.get(4..6) {
            Some(&[a, b]) if i16::from_be_bytes([a, b]) == UNSUPPORTED_VERSION => 0,
            _ => API_VERSIONS_VERSION,
        };
        let mut resp: ApiVersionsResponse =
            decode_response::<ApiVersionsRequest>(frame, correlation, version)?;
        if resp.error_code == UNSUPPORTED_VERSION && !resp.api_keys.is_empty() {
            resp.error_code = 0;
        }
        if resp.error_code != 0 {
            return Err(TransportError::Refused {
                stage: "api versions",
                detail: format!("error code {}", resp.error_code),
            });
        }
        conn.versions = Versions::negotiate(&resp);
        Ok(conn)
    }

    /// Counts every later byte as steady state.
    pub(crate) fn end_handshake(&self) {
        self.handshake.end();
    }

    /// Sends `req` at the negotiated version without waiting for its response.
    pub(crate) async fn send<R: Request>(
        &mut self,
        req: &R,
        stage: &'static str,
    ) -> Result<(), TransportError> {
        let key = ApiKey::try_from(R::KEY)
            .map_err(|_| TransportError::protocol(stage, format!("unknown api key {}", R::KEY)))?;
        let version = self.versions.get(key, stage)?;
        let correlation = self.writer.send(req, version).await?;
        self.pending.push_back((correlation, version));
        Ok(())
    }

    /// Waits for the response to the oldest outstanding request, which must be an `R`.
    pub(crate) async fn recv<R: Request>(&mut self) -> Result<R::Response, TransportError> {
        let frame = self.reader.next_frame().await?;
        let (correlation, version) = self.pending.pop_front().ok_or_else(|| {
            TransportError::protocol("read response", "a response nobody asked for")
        })?;
        decode_response::<R>(frame, correlation, version)
    }

    /// Sends `req` at the negotiated version and waits for its response.
    pub(crate) async fn call<R: Request>(
        &mut self,
        req: &R,
        stage: &'static str,
    ) -> Result<R::Response, TransportError> {
        self.send(req, stage).await?;
        self.recv::<R>().await
    }

    /// Half-closes the connection.
    pub(crate) async fn shutdown(&mut self) {
        self.writer.shutdown().await;
    }
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
