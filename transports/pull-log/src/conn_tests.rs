//! Golden bytes of the connection handshake against a scripted broker on loopback.

use super::*;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

const STEP: Duration = Duration::from_secs(5);

/// Reads one size-prefixed frame from the raw server socket.
async fn read_frame(s: &mut TcpStream) -> Vec<u8> {
    let size = s.read_i32().await.unwrap() as usize;
    let mut v = vec![0; size];
    s.read_exact(&mut v).await.unwrap();
    v
}

#[rustfmt::skip]
fn api_versions_response(correlation: i32) -> Vec<u8> {
    let body: Vec<u8> = [
        &correlation.to_be_bytes()[..],   // response header v0: correlation id only
        &[0, 0],                          // error code 0
        &[3],                             // compact array of 2 entries
        &[0, 1], &[0, 4], &[0, 11], &[0], // Fetch 4..=11, no tagged fields
        &[0, 0], &[0, 0], &[0, 2], &[0],  // Produce 0..=2 (too old for this client)
        &[0, 0, 0, 0],                    // throttle time
        &[0],                             // no tagged fields
    ]
    .concat();
    [&(body.len() as i32).to_be_bytes()[..], &body].concat()
}

#[tokio::test]
async fn api_versions_golden_bytes_and_negotiation() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let req = read_frame(&mut s).await;
        s.write_all(&api_versions_response(1)).await.unwrap();
        req
    });
    let ctx = ClientContext::fresh(0);
    let mut conn = tokio::time::timeout(STEP, Conn::connect(&addr, &ctx, "c".into(), 1 << 20))
        .await
        .unwrap()
        .unwrap();
    let req = server.await.unwrap();
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        &[0, 18][..],                     // api key: ApiVersions
        &[0, 3],                          // version 3
        &[0, 0, 0, 1],                    // correlation id 1
        &[0, 1], b"c",                    // client id (classic nullable string)
        &[0],                             // header tagged fields
        &[16], b"transport-bench",        // compact string: software name
        &[6], env!("CARGO_PKG_VERSION").as_bytes(), // compact string: software version
        &[0],                             // body tagged fields
    ]
    .concat();
    assert_eq!(req, expected);
    assert_eq!(conn.versions.get(ApiKey::Fetch, "t").unwrap(), 11);
    assert!(conn.versions.get(ApiKey::Produce, "t").is_err());
    let s = ctx.wire.snapshot();
    assert_eq!(s.handshake_written, 4 + expected.len() as u64);
    assert_eq!(s.handshake_read, api_versions_response(1).len() as u64);
    assert_eq!((s.read, s.written), (0, 0));
    let err = conn
        .call(
            &kafka_protocol::messages::MetadataRequest::default(),
            "metadata",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Metadata"), "{err}");
}

#[tokio::test]
async fn wrong_correlation_and_oversized_frames_are_protocol_errors() {
    for response in [api_versions_response(9), vec![0x7f, 0, 0, 0]] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            read_frame(&mut s).await;
            s.write_all(&response).await.unwrap();
            // Keep the socket open so the client sees the bad bytes, not a close.
            let _ = s.read_u8().await;
        });
        let ctx = ClientContext::fresh(0);
        let res = tokio::time::timeout(STEP, Conn::connect(&addr, &ctx, "c".into(), 1 << 20))
            .await
            .unwrap();
        assert!(
            matches!(res, Err(TransportError::Protocol { .. })),
            "{:?}",
            res.err()
        );
    }
}

#[rustfmt::skip]
fn api_versions_v0_unsupported(correlation: i32) -> Vec<u8> {
    let body: Vec<u8> = [
        &correlation.to_be_bytes()[..],   // response header v0
        &[0, 35],                         // UNSUPPORTED_VERSION
        &[0, 0, 0, 1],                    // classic array of 1 entry
        &[0, 1], &[0, 4], &[0, 10],       // Fetch 4..=10
    ]
    .concat();
    [&(body.len() as i32).to_be_bytes()[..], &body].concat()
}

#[tokio::test]
async fn an_older_broker_answering_v0_with_unsupported_version_still_negotiates() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        read_frame(&mut s).await;
        s.write_all(&api_versions_v0_unsupported(1)).await.unwrap();
        let _ = s.read_u8().await;
    });
    let ctx = ClientContext::fresh(0);
    let conn = tokio::time::timeout(STEP, Conn::connect(&addr, &ctx, "c".into(), 1 << 20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conn.versions.get(ApiKey::Fetch, "t").unwrap(), 10);
}
