//! The publisher: POSTs messages over one keep-alive connection, one request in flight.
//!
//! HTTP/1.1 allows pipelining in principle, but no browser or common client uses it and hyper
//! does not, so the honest model is one outstanding request per connection. `publish` hands the
//! message to a background task through a queue bounded in messages (the window; a batch handed
//! over by `Publisher::publish_batch` is one entry, [`transport_core::publish_queue`]) and
//! returns; the task POSTs whatever queued while the previous request was out (up to the
//! `publish_batch` option's count, never waiting to fill a batch, so at low rates each message
//! gets its own request) and waits for each 200 before the next. A full window makes `publish` wait, which the harness
//! sees as schedule lag — the cost of a round trip per request, shown rather than hidden.
//!
//! Transport failures, 5xx and 409 replies are retried on a new connection with capped
//! exponential backoff and full jitter (`reconnect_*` options). A retry after a lost reply
//! stores nothing twice: the publisher has a random session id, and the first POST on each
//! connection names it with the session position of its first message
//! (`?session=S&seq=N`, [`crate::server::session`]); the server drops what it already
//! accepted. Later POSTs on the connection continue the session without the query, so
//! keep-alive requests cost no extra bytes.

use bytes::Bytes;
use http::header::HeaderMap;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use transport_core::publish_queue::{Inbox, Outbox, Received, publish_queue};
use transport_core::{Backoff, ClientContext, Counter, Publisher, TransportError};

use super::headers::{self, Purpose};
use super::http::{Conn, HttpChoice};
use crate::codec;
use crate::config::{ConnectionMode, Encoding, LongPollConfig};

/// Messages a publisher accepts ahead of the server's replies.
pub const PUBLISH_WINDOW: usize = 1024;

/// A long-poll publisher.
pub struct LongPollPublisher {
    tx: Option<Outbox>,
    task: Option<JoinHandle<Result<(), TransportError>>>,
}

/// The background task's state.
struct Sender {
    ctx: ClientContext,
    addr: String,
    path: String,
    headers: HeaderMap,
    /// This publisher's session id.
    session: u64,
    /// Messages the server acknowledged: the session position of the next batch.
    acked: u64,
    /// Whether the server bound `conn` to the session (a POST naming it got its 200).
    conn_named: bool,
    encoding: Encoding,
    batch: usize,
    max_body: usize,
    conn: Option<Conn>,
    http: HttpChoice,
    backoff: Backoff,
    requests: Counter,
    retries: Counter,
    request_header_bytes: Counter,
    response_header_bytes: Counter,
}

/// Connects a publisher for `topic`.
/// Connects a publisher for `topic` at `addr` (also used by transports that publish the way
/// long polling does, such as SSE).
pub async fn connect(
    config: &LongPollConfig,
    addr: &str,
    topic: &str,
    ctx: ClientContext,
) -> Result<LongPollPublisher, TransportError> {
    // Publishes always reuse their connection; `connection = "per-request"` is about polls.
    let headers = headers::build(config, addr, Purpose::Publish, ConnectionMode::KeepAlive)?;
    let http = HttpChoice::publisher(config);
    let conn = http.open(&ctx, addr, false).await?;
    let c = &ctx.counters;
    let sender = Sender {
        addr: addr.to_owned(),
        path: format!("/topics/{topic}/messages"),
        headers,
        session: rand::random(),
        acked: 0,
        conn_named: false,
        encoding: config.encoding,
        batch: config.publish_batch as usize,
        max_body: config.max_body_bytes as usize,
        conn: Some(conn),
        http,
        backoff: ctx.backoff(config.backoff()),
        requests: c.counter("publish_requests"),
        retries: c.counter("publish_retries"),
        request_header_bytes: c.counter("publish_request_header_bytes"),
        response_header_bytes: c.counter("publish_response_header_bytes"),
        ctx,
    };
    let (tx, rx) = publish_queue(PUBLISH_WINDOW);
    Ok(LongPollPublisher {
        tx: Some(tx),
        task: Some(tokio::spawn(sender.run(rx))),
    })
}

impl Sender {
    async fn run(mut self, mut rx: Inbox) -> Result<(), TransportError> {
        let mut carry: Option<Bytes> = None;
        loop {
            let first = match carry.take() {
                Some(m) => m,
                None => match rx.recv().await {
                    None => return Ok(()),
                    Some(Received::Flush(done)) => {
                        // Everything before it has been acknowledged already.
                        let _ = done.send(());
                        continue;
                    }
                    Some(Received::Msg(m)) => m,
                },
            };
            let mut bytes = codec::encoded_len(self.encoding, first.len());
            let mut batch = vec![first];
            let mut flush = None;
            while batch.len() < self.batch {
                match rx.try_recv() {
                    Some(Received::Msg(m)) => {
                        bytes += codec::encoded_len(self.encoding, m.len());
                        if bytes + 16 > self.max_body {
                            carry = Some(m);
                            break;
                        }
                        batch.push(m);
                    }
                    Some(Received::Flush(done)) => {
                        flush = Some(done);
                        break;
                    }
                    None => break,
                }
            }
            self.post(&batch).await?;
            if let Some(done) = flush {
                let _ = done.send(());
            }
        }
    }

    /// POSTs one batch, retrying transport failures and 5xx on a fresh connection.
    async fn post(&mut self, batch: &[Bytes]) -> Result<(), TransportError> {
        let body = codec::encode_publish(self.encoding, batch);
        loop {
            let conn = match self.conn.take() {
                Some(c) if c.is_open() => Ok(c),
                _ => {
                    self.conn_named = false;
                    self.http.open(&self.ctx, &self.addr, false).await
                }
            };
            // Only the first POST of a connection names the session.
            let uri = if self.conn_named {
                self.path.clone()
            } else {
                format!("{}?session={}&seq={}", self.path, self.session, self.acked)
            };
            let mut req = Request::builder()
                .method(Method::POST)
                .uri(uri)
                .body(Full::new(body.clone()))
                .map_err(|e| TransportError::Config(format!("bad request: {e}")))?;
            *req.headers_mut() = self.headers.clone();
            let result = match conn {
                Ok(mut c) => {
                    let r = c.exchange("publish", req, 64 * 1024).await;
                    self.conn = Some(c);
                    r
                }
                Err(e) => Err(e),
            };
            let failure = match result {
                Ok(ex) => {
                    self.requests.inc();
                    if let (Some(req), Some(resp)) =
                        (ex.request_header_bytes, ex.response_header_bytes)
                    {
                        self.request_header_bytes.add(req);
                        self.response_header_bytes.add(resp);
                    }
                    if ex.status == StatusCode::OK {
                        self.backoff.reset();
                        self.conn_named = true;
                        self.acked += batch.len() as u64;
                        return Ok(());
                    }
                    let (msg, _) = codec::decode_error(&ex.body);
                    let refused = TransportError::Refused {
                        stage: "publish",
                        detail: format!("{}: {msg}", ex.status),
                    };
                    // 409: another connection took over the session; a new one takes it back.
                    if !ex.status.is_server_error() && ex.status != StatusCode::CONFLICT {
                        return Err(refused);
                    }
                    refused
                }
                Err(e) => e,
            };
            self.conn = None;
            let Some(delay) = self.backoff.fail() else {
                return Err(failure);
            };
            self.retries.inc();
            tokio::time::sleep(delay).await;
        }
    }
}

impl LongPollPublisher {
    /// The background task's error once it stopped; `Closed` if it is already collected.
    async fn failure(&mut self) -> TransportError {
        self.tx = None;
        match self.task.take() {
            Some(task) => match task.await {
                Ok(Err(e)) => e,
                Ok(Ok(())) => TransportError::Closed { stage: "publish" },
                Err(join) => TransportError::protocol("publish", format!("sender task: {join}")),
            },
            None => TransportError::Closed { stage: "publish" },
        }
    }

    /// Turns a queue refusal (the task has ended) into the task's error.
    async fn queued(&mut self, sent: bool) -> Result<(), TransportError> {
        if sent {
            Ok(())
        } else {
            Err(self.failure().await)
        }
    }
}

impl Publisher for LongPollPublisher {
    async fn publish(&mut self, msg: Bytes) -> Result<(), TransportError> {
        let sent = match &self.tx {
            Some(tx) => tx.send(msg).await,
            None => false,
        };
        self.queued(sent).await
    }

    /// The batch goes to the task as one queue entry.
    async fn publish_batch(
        &mut self,
        msgs: &[Bytes],
        accepted: &mut usize,
    ) -> Result<(), TransportError> {
        let sent = match &self.tx {
            Some(tx) => tx.send_batch(msgs.to_vec()).await,
            None => false,
        };
        self.queued(sent).await?;
        *accepted += msgs.len();
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        let (done, acked) = oneshot::channel();
        let sent = self.tx.as_ref().is_some_and(|tx| tx.flush(done));
        self.queued(sent).await?;
        match acked.await {
            Ok(()) => Ok(()),
            // The task dropped the flush: it failed before getting there.
            Err(_) => Err(self.failure().await),
        }
    }

    async fn close(mut self) -> Result<(), TransportError> {
        self.flush().await?;
        self.tx = None;
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| TransportError::protocol("publish", format!("sender task: {e}")))?,
            None => Ok(()),
        }
    }
}

impl Drop for LongPollPublisher {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
