//! The server side of the opening handshake (RFC 6455 §4.2), read and answered here rather
//! than by tungstenite's `accept`, because the server must answer every refusal with an HTTP
//! response: tungstenite drops the socket on a malformed request (the client sees a bare FIN),
//! and it accepts any `Sec-WebSocket-Key`, where §4.2.1 asks for base64 of 16 bytes.
//!
//! Refusals: malformed HTTP, a request head over [`MAX_HEAD_BYTES`], a method other than GET,
//! or a bad key get 400; a request that is not a WebSocket upgrade, or one of another protocol
//! version, gets 426 naming version 13; an unknown path gets 404; bad query values get 400.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use transport_core::{Conn, TransportError};

use crate::proto::{Route, parse_route};
use crate::ws::Ws;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig as WsConfig;

/// Largest request head accepted; a browser's upgrade request is well under 2 KiB.
pub(crate) const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most headers accepted in a request.
const MAX_HEADERS: usize = 64;

/// A refusal: the status line's code and reason, an extra header if any, and the body.
pub(crate) struct Refusal {
    pub(crate) status: &'static str,
    header: Option<&'static str>,
    body: String,
}

fn refusal(status: &'static str, body: impl Into<String>) -> Refusal {
    Refusal {
        status,
        header: None,
        body: body.into(),
    }
}

/// Reads the upgrade request from `io`, and either answers 101 and returns the WebSocket and
/// its route, or answers with an error status and returns why.
pub(crate) async fn accept(
    mut io: Conn,
    config: impl FnOnce(&Route) -> WsConfig,
) -> Result<(Ws, Route), TransportError> {
    let mut buf = Vec::with_capacity(1024);
    let (head_len, checked) = loop {
        if let Some(parsed) = parse_head(&buf) {
            break parsed;
        }
        if buf.len() >= MAX_HEAD_BYTES {
            let r = refusal("400 Bad Request", "request head too large\n");
            break (buf.len(), Err(r));
        }
        let n = io
            .read_buf(&mut buf)
            .await
            .map_err(TransportError::io("upgrade request"))?;
        if n == 0 {
            return Err(TransportError::Closed {
                stage: "upgrade request",
            });
        }
    };
    match checked {
        Ok((route, accept_key)) => {
            let resp = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {accept_key}\r\n\r\n"
            );
            io.write_all(resp.as_bytes())
                .await
                .map_err(TransportError::io("upgrade response"))?;
            // A client must wait for the 101 before it sends frames, but whatever it sent
            // early is kept, not lost.
            let ws = after_upgrade(io, &buf[head_len..], config(&route)).await;
            Ok((ws, route))
        }
        Err(r) => {
            let detail = format!("{}: {}", r.status, r.body.trim());
            refuse(&mut io, &r).await;
            Err(TransportError::Refused {
                stage: "upgrade",
                detail,
            })
        }
    }
}

/// The WebSocket over `io`, which already read `early` past the request head.
///
/// Its read buffer starts from a vector with the buffer's full capacity: tungstenite's buffer
/// remembers the capacity it started with, and once frames it handed out still share it, it
/// regrows to only that much. Started from a bare copy of `early` (usually empty) it regrew to
/// exactly the next frame, so the server read each message in two recv calls of a few bytes
/// (measured: 1.4 reads per message, and a quarter of the throughput).
pub(crate) async fn after_upgrade<S>(io: S, early: &[u8], config: WsConfig) -> WebSocketStream<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut part = Vec::with_capacity(config.read_buffer_size.max(early.len()));
    part.extend_from_slice(early);
    WebSocketStream::from_partially_read(io, part, Role::Server, Some(config)).await
}

/// Writes the refusal and closes our side. Errors are ignored: the peer may be gone already.
async fn refuse(io: &mut Conn, r: &Refusal) {
    let extra = r.header.map(|h| format!("{h}\r\n")).unwrap_or_default();
    let resp = format!(
        "HTTP/1.1 {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra}\r\n{}",
        r.status,
        r.body.len(),
        r.body
    );
    let _ = io.write_all(resp.as_bytes()).await;
    let _ = io.shutdown().await;
}

pub(crate) type Checked = Result<(Route, String), Refusal>;

/// Parses a complete request head at the start of `buf`: `None` while it is incomplete,
/// else its length and the route with the accept key, or the refusal.
pub(crate) fn parse_head(buf: &[u8]) -> Option<(usize, Checked)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) => None,
        Ok(httparse::Status::Complete(n)) => Some((n, check(&req))),
        Err(e) => Some((buf.len(), Err(refusal("400 Bad Request", format!("{e}\n"))))),
    }
}

fn header<'a>(req: &'a httparse::Request, name: &str) -> Option<&'a [u8]> {
    req.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// Whether the comma-separated header `name` holds `token` (case-insensitive).
fn has_token(req: &httparse::Request, name: &str, token: &str) -> bool {
    header(req, name).is_some_and(|v| {
        String::from_utf8_lossy(v)
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    })
}

/// Whether `key` is base64 of exactly 16 bytes (RFC 6455 §4.2.1, item 5).
pub(crate) fn valid_key(key: &[u8]) -> bool {
    STANDARD.decode(key).is_ok_and(|k| k.len() == 16)
}

fn check(req: &httparse::Request) -> Checked {
    if req.method != Some("GET") || req.version != Some(1) {
        return Err(refusal("400 Bad Request", "expected GET ... HTTP/1.1\n"));
    }
    let upgrade = has_token(req, "Upgrade", "websocket") && has_token(req, "Connection", "upgrade");
    if !upgrade || header(req, "Sec-WebSocket-Version") != Some(b"13") {
        return Err(Refusal {
            status: "426 Upgrade Required",
            header: Some("Upgrade: websocket\r\nSec-WebSocket-Version: 13"),
            body: "this port speaks WebSocket version 13 only\n".into(),
        });
    }
    let key = header(req, "Sec-WebSocket-Key").unwrap_or_default();
    if !valid_key(key) {
        let body = "Sec-WebSocket-Key must be base64 of 16 bytes\n";
        return Err(refusal("400 Bad Request", body));
    }
    let target = req.path.unwrap_or_default();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    match parse_route(path, query) {
        Ok(route) => Ok((route, derive_accept_key(key))),
        Err(None) => Err(refusal(
            "404 Not Found",
            "paths: /topics/{topic}?from=SEQ&epoch=E (subscribe), /topics/{topic}/publish?session=S\n",
        )),
        Err(Some(reason)) => Err(refusal("400 Bad Request", reason + "\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
    use tokio_tungstenite::tungstenite::Message;

    /// A stream that counts the reads that returned data.
    struct CountReads(DuplexStream, usize);

    impl AsyncRead for CountReads {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let before = buf.filled().len();
            let polled = Pin::new(&mut self.0).poll_read(cx, buf);
            if buf.filled().len() > before {
                self.1 += 1;
            }
            polled
        }
    }

    impl AsyncWrite for CountReads {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Pin::new(&mut self.0).poll_write(cx, buf)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }
        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    /// 2,000 frames of 100 bytes that arrive together must take a few large reads, not two
    /// small ones per frame, while the frames already read are still held (as the topic
    /// holds them).
    #[tokio::test]
    async fn frames_that_arrive_together_are_read_together() {
        let (server_end, client_end) = tokio::io::duplex(1 << 20);
        let config = WsConfig::default().read_buffer_size(64 * 1024);
        let mut server = after_upgrade(CountReads(server_end, 0), &[], config).await;
        let mut client = WebSocketStream::from_raw_socket(client_end, Role::Client, None).await;
        const FRAMES: usize = 2_000;
        for i in 0..FRAMES {
            client
                .feed(Message::Binary(vec![i as u8; 100].into()))
                .await
                .expect("feed");
        }
        client.flush().await.expect("flush");
        let mut held = Vec::with_capacity(FRAMES);
        while held.len() < FRAMES {
            match server.next().await {
                Some(Ok(Message::Binary(b))) => held.push(b),
                other => panic!("expected a binary frame, got {other:?}"),
            }
        }
        let reads = server.get_ref().1;
        // About 212 KB in 64 KiB reads: 4, if a few more at the seams.
        assert!(reads <= 20, "{reads} reads for {FRAMES} frames");
    }

    #[test]
    fn keys_must_be_base64_of_sixteen_bytes() {
        // The RFC's sample nonce.
        assert!(valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!valid_key(b""));
        assert!(!valid_key(b"short"));
        // 21 bytes of base64: well-formed, wrong length.
        assert!(!valid_key(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZQ"));
    }

    #[test]
    fn an_incomplete_head_waits_and_garbage_is_refused() {
        assert!(parse_head(b"GET /topics/x HTTP/1.1\r\nHost: a\r\n").is_none());
        let (_, checked) = parse_head(b"hello\r\n\r\n").expect("complete");
        assert!(matches!(checked, Err(r) if r.status.starts_with("400")));
    }
}
