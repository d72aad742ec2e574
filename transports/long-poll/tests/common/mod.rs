//! Helpers shared by the socket tests: bounded waits, harness-shaped messages, fast-retrying
//! options, a receive loop that collects sequence numbers, and raw HTTP requests.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use transport_core::{Envelope, ServerHandle, Subscriber};
use transport_long_poll::codec;
use transport_long_poll::{Encoding, LongPollConfig, LongPollServer};

/// Awaits `f` for at most 10 s, panicking with `what` otherwise.
pub async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("{what} timed out"))
}

/// A message the harness would send: an envelope with `seq`, 64 bytes in all.
pub fn message(seq: u64) -> Bytes {
    transport_core::conformance::message(seq, 64)
}

/// Short holds and fast retries, so restarts and cuts resolve quickly.
pub fn config() -> LongPollConfig {
    LongPollConfig {
        hold_timeout: Duration::from_millis(500),
        reconnect_base: Duration::from_millis(5),
        reconnect_cap: Duration::from_millis(50),
        ..LongPollConfig::default()
    }
}

/// Receives until every seq in `want` arrived, within 10 s in all (a subscriber that polls on
/// but never gets them fails the test); returns how many messages came in all.
pub async fn receive_all<S: Subscriber>(sub: &mut S, want: &BTreeSet<u64>) -> usize {
    bounded("receiving every wanted seq", async {
        let mut seen = BTreeSet::new();
        let mut total = 0;
        let mut buf = Vec::new();
        while !want.is_subset(&seen) {
            buf.clear();
            sub.recv(&mut buf).await.expect("recv keeps going");
            for m in &buf {
                seen.insert(Envelope::decode(m).expect("envelope").seq);
                total += 1;
            }
        }
        total
    })
    .await
}

/// The seqs of the next non-empty delivery, within 10 s.
pub async fn next_seqs<S: Subscriber>(sub: &mut S) -> Vec<u64> {
    bounded("a non-empty delivery", async {
        let mut buf = Vec::new();
        while buf.is_empty() {
            sub.recv(&mut buf).await.expect("recv keeps going");
        }
        buf.iter()
            .map(|m| Envelope::decode(m).expect("envelope").seq)
            .collect()
    })
    .await
}

/// One HTTP reply, as bytes on the wire.
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Status line and headers.
    pub head: String,
    /// Body as read until the server closed.
    pub body: Vec<u8>,
}

/// Sends raw request bytes on a fresh connection and reads the reply until the server closes.
pub async fn raw(server: &LongPollServer, request: &[u8]) -> Reply {
    let mut s = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    s.write_all(request).await.expect("write request");
    let mut buf = Vec::new();
    bounded("reading a reply", s.read_to_end(&mut buf))
        .await
        .expect("read reply");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete header block");
    let head = String::from_utf8(buf[..split].to_vec()).expect("ASCII header");
    let status = head[9..12].parse().expect("status code");
    Reply {
        status,
        head,
        body: buf[split + 4..].to_vec(),
    }
}

/// A GET request that asks the server to close after the reply.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").into_bytes()
}

/// A POST request with `body`, closing after the reply.
pub fn post(path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// A binary publish body of `msgs`.
pub fn frames(msgs: &[&[u8]]) -> Vec<u8> {
    let msgs: Vec<Bytes> = msgs.iter().map(|m| Bytes::copy_from_slice(m)).collect();
    codec::encode_publish(Encoding::Binary, &msgs).to_vec()
}
