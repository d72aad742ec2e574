//! Raw HTTP for the socket tests: requests written byte by byte and replies read until the
//! server closes, so the tests check the API as documented rather than through our client.

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use transport_core::ServerHandle;
use transport_long_poll::codec;
use transport_long_poll::{Encoding, LongPollServer};
use transport_test_support::bounded;

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
