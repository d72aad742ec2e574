//! Request dispatch: header parsing, the version table, the hostile-count guard, decoding, and
//! response framing. Handlers live in the submodules, one per API family.

mod fetch;
mod groups;
#[cfg(test)]
mod layout_tests;
mod meta;
mod produce;
mod producer_id;
pub(crate) mod table;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::frame::{finish_frame, start_frame};
use crate::guard::check_body;
use crate::header::{parse_header, skip_header_tags};
use crate::state::{ConnInfo, Shared};
use table::APIS;

/// What the connection does with a request's outcome.
#[derive(Debug)]
pub(crate) enum Reply {
    /// Write this size-prefixed response frame.
    Frame(Bytes),
    /// Nothing to write (acks = 0 produce).
    Nothing,
    /// The request was malformed or unsupported: close the connection.
    Close(String),
}

/// Error code for an unsupported version (KIP-511 answer to ApiVersions).
pub(crate) const UNSUPPORTED_VERSION: i16 = 35;

/// Whether `api_key` is part of the connection handshake (counted apart from steady bytes).
/// InitProducerId is a producer's setup too, sent once before its first batch.
pub(crate) fn is_handshake(api_key: i16) -> bool {
    api_key == ApiKey::ApiVersions as i16
        || api_key == ApiKey::Metadata as i16
        || api_key == ApiKey::InitProducerId as i16
}

/// Encodes `body` with its response header into one size-prefixed frame.
fn frame<R: Encodable>(key: ApiKey, version: i16, correlation_id: i32, body: &R) -> Reply {
    let mut buf = BytesMut::with_capacity(256);
    let start = start_frame(&mut buf);
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    let encoded = header
        .encode(&mut buf, key.response_header_version(version))
        .and_then(|()| body.encode(&mut buf, version));
    if let Err(e) = encoded {
        return Reply::Close(format!("encode {key:?} v{version}: {e}"));
    }
    if let Err(e) = finish_frame(&mut buf, start) {
        return Reply::Close(format!("encode {key:?} v{version}: {e}"));
    }
    Reply::Frame(buf.freeze())
}

/// Decodes a guarded body.
fn decode<R: Decodable>(mut body: Bytes, version: i16) -> Result<R, String> {
    R::decode(&mut body, version).map_err(|e| format!("decode: {e}"))
}

/// Handles one request frame: header, version check, guard, decode, handler, response frame.
pub(crate) async fn handle(shared: &Shared, conn: &ConnInfo, frame_bytes: Bytes) -> Reply {
    let (header, at) = match parse_header(&frame_bytes) {
        Ok(h) => h,
        Err(e) => return Reply::Close(format!("request header: {e}")),
    };
    let Some(api) = APIS.iter().find(|a| a.key as i16 == header.api_key) else {
        return Reply::Close(format!("unsupported api key {}", header.api_key));
    };
    let version = header.api_version;
    let cid = header.correlation_id;
    if version < api.min || version > api.max {
        if api.key == ApiKey::ApiVersions && version > api.max {
            // KIP-511: a v0-format body with error 35 and our versions, so the client can
            // retry with a version we support.
            return frame(
                ApiKey::ApiVersions,
                0,
                cid,
                &meta::api_versions(UNSUPPORTED_VERSION),
            );
        }
        return Reply::Close(format!("{:?} v{version} unsupported", api.key));
    }
    let flexible = version >= api.flexible_from;
    // The ApiVersions response header is always v0, but its request header is v2 when flexible.
    let body_at = if flexible {
        match skip_header_tags(&frame_bytes, at) {
            Ok(n) => n,
            Err(e) => return Reply::Close(format!("request header tags: {e}")),
        }
    } else {
        at
    };
    let body = frame_bytes.slice(body_at..);
    // The request limit also caps what its decoded arrays may take in memory (see guard.rs).
    let budget = shared.config.max_request_bytes as usize;
    if let Err(e) = check_body(&body, api.schema, version, flexible, budget) {
        return Reply::Close(format!("{:?} v{version}: {e}", api.key));
    }
    let key = api.key;
    macro_rules! run {
        ($req:ty, $handler:expr) => {
            match decode::<$req>(body, version) {
                Ok(req) => $handler(req),
                Err(e) => Reply::Close(e),
            }
        };
    }
    match key {
        ApiKey::ApiVersions => frame(key, version, cid, &meta::api_versions(0)),
        ApiKey::Metadata => run!(MetadataRequest, |r| frame(
            key,
            version,
            cid,
            &meta::metadata(shared, conn, r, version)
        )),
        ApiKey::CreateTopics => run!(CreateTopicsRequest, |r| frame(
            key,
            version,
            cid,
            &meta::create_topics(shared, r)
        )),
        ApiKey::Produce => match decode::<ProduceRequest>(body, version) {
            Ok(r) if r.acks == 0 => {
                produce::produce(shared, r);
                Reply::Nothing
            }
            Ok(r) => frame(key, version, cid, &produce::produce(shared, r)),
            Err(e) => Reply::Close(e),
        },
        ApiKey::Fetch => match decode::<FetchRequest>(body, version) {
            Ok(r) => frame(key, version, cid, &fetch::fetch(shared, r).await),
            Err(e) => Reply::Close(e),
        },
        ApiKey::ListOffsets => run!(ListOffsetsRequest, |r| frame(
            key,
            version,
            cid,
            &fetch::list_offsets(shared, r)
        )),
        ApiKey::FindCoordinator => run!(FindCoordinatorRequest, |r| frame(
            key,
            version,
            cid,
            &groups::find_coordinator(conn, r)
        )),
        ApiKey::JoinGroup => match decode::<JoinGroupRequest>(body, version) {
            Ok(r) => frame(key, version, cid, &groups::join(shared, r, version).await),
            Err(e) => Reply::Close(e),
        },
        ApiKey::SyncGroup => match decode::<SyncGroupRequest>(body, version) {
            Ok(r) => frame(key, version, cid, &groups::sync(shared, r).await),
            Err(e) => Reply::Close(e),
        },
        ApiKey::Heartbeat => run!(HeartbeatRequest, |r| frame(
            key,
            version,
            cid,
            &groups::heartbeat(shared, r)
        )),
        ApiKey::LeaveGroup => run!(LeaveGroupRequest, |r| frame(
            key,
            version,
            cid,
            &groups::leave(shared, r)
        )),
        ApiKey::OffsetCommit => run!(OffsetCommitRequest, |r| frame(
            key,
            version,
            cid,
            &groups::offset_commit(shared, r)
        )),
        ApiKey::OffsetFetch => run!(OffsetFetchRequest, |r| frame(
            key,
            version,
            cid,
            &groups::offset_fetch(shared, r)
        )),
        ApiKey::InitProducerId => run!(InitProducerIdRequest, |r| frame(
            key,
            version,
            cid,
            &producer_id::init_producer_id(shared, r)
        )),
        other => Reply::Close(format!("{other:?} not handled")),
    }
}
