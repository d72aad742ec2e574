//! The subscriber: one held poll per `recv`, re-polling at once after each reply.
//!
//! It starts from the topic's head (a non-holding `GET /head`, counted as handshake), so every
//! message published after [`LongPoll::subscriber`](crate::LongPoll) returns is delivered. A 410
//! moves the cursor to the earliest retained message and counts the skipped ones in
//! `gap_messages`; the harness's audit then reports them as lost. Errors are retried with capped
//! exponential backoff and full jitter from the same cursor, so a broken connection loses nothing
//! the server still retains.
//!
//! A server that restarted with memory storage begins its log again at cursor 0, so the
//! subscriber's cursor means nothing to it, whether or not the new log has already passed it.
//! The head reply told the subscriber the server's epoch ([`crate::epoch`]); it sends it back
//! as `epoch=` on the first poll of every new connection (a restart always breaks the
//! connection), or on every poll with `epoch_check = "per-poll"`. A restarted server answers
//! 410 with its new epoch, and the subscriber resumes from that server's earliest cursor
//! (reading everything it published since the restart) and counts `cursor_resets`; what the old
//! server held but never delivered is gone, and the harness's audit reports it as lost. Without
//! an epoch (a server that sends none), a cursor beyond the head (400 with `head_cursor`) is
//! taken as the same sign of a restart.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HeaderMap;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use transport_core::{Backoff, ClientContext, Counter, Distribution, Subscriber, TransportError};

use super::headers::{self, Purpose};
use super::http::{Conn, Exchange, HttpChoice};
use crate::codec;
use crate::config::{ConnectionMode, Encoding, EpochCheck, LongPollConfig};

/// How long past the hold a poll may take before the client gives up on that request.
const POLL_GRACE: Duration = Duration::from_secs(10);

/// Client-side counters of all subscribers of a run.
struct SubCounters {
    polls: Counter,
    empty_polls: Counter,
    gap_messages: Counter,
    poll_errors: Counter,
    cursor_resets: Counter,
    request_header_bytes: Counter,
    response_header_bytes: Counter,
    messages_per_response: Distribution,
    repoll_gap_us: Distribution,
}

/// A long-poll subscriber.
pub struct LongPollSubscriber {
    ctx: ClientContext,
    addr: String,
    topic: String,
    mode: ConnectionMode,
    encoding: Encoding,
    max_messages: u32,
    hold: Duration,
    body_limit: usize,
    headers: HeaderMap,
    /// HTTP/1.1, or HTTP/2 on a connection shared with other subscribers.
    http: HttpChoice,
    conn: Option<Conn>,
    /// Whether `conn` has already answered a request, so it reaches the server whose epoch
    /// this subscriber holds (a TCP connection cannot outlive a server's incarnation).
    conn_checked: bool,
    cursor: u64,
    /// The epoch of the server `cursor` belongs to; `None` if the server sends none.
    epoch: Option<u64>,
    epoch_check: EpochCheck,
    backoff: Backoff,
    counters: SubCounters,
    /// When the last poll reply arrived, to measure how long no poll was outstanding.
    last_reply: Option<Instant>,
}

/// Largest response body a client accepts: a full batch in JSON is up to 4/3 of the server's
/// byte cap, and one oversized message is always allowed.
pub(crate) fn body_limit(config: &LongPollConfig) -> usize {
    config.max_body_bytes as usize * 2 + 64 * 1024
}

fn get(path: String, headers: &HeaderMap) -> Result<Request<Full<Bytes>>, TransportError> {
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(path)
        .body(Full::new(Bytes::new()))
        .map_err(|e| TransportError::Config(format!("bad request: {e}")))?;
    *req.headers_mut() = headers.clone();
    Ok(req)
}

fn refused(stage: &'static str, ex: &Exchange) -> TransportError {
    let (msg, _) = codec::decode_error(&ex.body);
    TransportError::Refused {
        stage,
        detail: format!("{}: {msg}", ex.status),
    }
}

/// Connects, reads the topic's head cursor, and returns a live subscriber.
pub(crate) async fn connect(
    config: &LongPollConfig,
    addr: &str,
    topic: &str,
    ctx: ClientContext,
) -> Result<LongPollSubscriber, TransportError> {
    let mode = config.connection;
    let headers = headers::build(config, addr, Purpose::Poll, mode)?;
    let http = HttpChoice::subscriber(config);
    let mut conn = http.open(&ctx, addr, true).await?;
    let ex = conn
        .exchange(
            "subscribe",
            get(format!("/topics/{topic}/head"), &headers)?,
            body_limit(config),
        )
        .await?;
    if ex.status != StatusCode::OK {
        return Err(refused("subscribe", &ex));
    }
    let (cursor, _) = codec::decode_batch(config.encoding, &ex.body)
        .map_err(|e| TransportError::protocol("subscribe", e))?;
    let epoch = ex.epoch;
    conn.end_handshake();
    let c = &ctx.counters;
    let counters = SubCounters {
        polls: c.counter("polls"),
        empty_polls: c.counter("empty_polls"),
        gap_messages: c.counter("gap_messages"),
        poll_errors: c.counter("poll_errors"),
        cursor_resets: c.counter("cursor_resets"),
        request_header_bytes: c.counter("poll_request_header_bytes"),
        response_header_bytes: c.counter("poll_response_header_bytes"),
        messages_per_response: c.distribution("messages_per_response"),
        repoll_gap_us: c.distribution("repoll_gap_us"),
    };
    Ok(LongPollSubscriber {
        addr: addr.to_owned(),
        topic: topic.to_owned(),
        mode,
        encoding: config.encoding,
        max_messages: config.max_messages,
        hold: config.hold_timeout,
        body_limit: body_limit(config),
        headers,
        http,
        // In per-request mode the head request said `Connection: close`.
        conn: (mode == ConnectionMode::KeepAlive).then_some(conn),
        conn_checked: true,
        cursor,
        epoch,
        epoch_check: config.epoch_check,
        backoff: ctx.backoff(config.backoff()),
        counters,
        last_reply: None,
        ctx,
    })
}

impl LongPollSubscriber {
    /// The cursor of the next message this subscriber expects.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// The epoch of the server the cursor belongs to (`None` if the server sends none).
    pub fn epoch(&self) -> Option<u64> {
        self.epoch
    }

    /// One poll on a reused or fresh connection.
    async fn poll_once(&mut self) -> Result<Exchange, TransportError> {
        let mut conn = match self.conn.take() {
            Some(c) if c.is_open() => c,
            _ => {
                self.conn_checked = false;
                self.http.open(&self.ctx, &self.addr, false).await?
            }
        };
        let mut path = format!(
            "/topics/{}/poll?cursor={}&max={}&timeout_ms={}",
            self.topic,
            self.cursor,
            self.max_messages,
            self.hold.as_millis()
        );
        let send_epoch = self.epoch_check == EpochCheck::PerPoll || !self.conn_checked;
        if let Some(epoch) = self.epoch.filter(|_| send_epoch) {
            path.push_str(&format!("&epoch={epoch}"));
        }
        let req = get(path, &self.headers)?;
        // The re-poll gap: from a reply to the next request (connection setup included), the
        // time in which this subscriber has no poll parked and new messages wait.
        if let Some(at) = self.last_reply.take() {
            let us = u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.counters.repoll_gap_us.record(us);
        }
        let bound = self.hold + POLL_GRACE;
        let ex = tokio::time::timeout(bound, conn.exchange("poll", req, self.body_limit))
            .await
            .map_err(|_| TransportError::Timeout {
                stage: "poll",
                after_ms: bound.as_millis() as u64,
            })??;
        self.last_reply = Some(Instant::now());
        // This server answered on this connection: whatever its epoch, the reply says it (a
        // 410 from a restarted server carries the new one), so later polls on it need not.
        self.conn_checked = true;
        if self.mode == ConnectionMode::KeepAlive {
            self.conn = Some(conn);
        }
        Ok(ex)
    }

    /// Handles one reply: `Some(n)` for a delivery unit of `n` messages, `None` to poll again.
    fn handle(
        &mut self,
        ex: Exchange,
        out: &mut Vec<Bytes>,
    ) -> Result<Option<usize>, TransportError> {
        self.counters.polls.inc();
        if let Some(bytes) = ex.request_header_bytes {
            self.counters.request_header_bytes.add(bytes);
        }
        if let Some(bytes) = ex.response_header_bytes {
            self.counters.response_header_bytes.add(bytes);
        }
        match ex.status {
            StatusCode::OK => self.deliver(&ex.body, out).map(Some),
            StatusCode::NO_CONTENT => {
                self.counters.empty_polls.inc();
                Ok(Some(0))
            }
            StatusCode::GONE => self.skip_gone(&ex).map(|()| None),
            StatusCode::BAD_REQUEST => self.reset_if_restarted(&ex).map(|()| None),
            _ => Err(refused("poll", &ex)),
        }
    }

    /// A 200: appends the batch to `out` and moves the cursor past it. Returns its size.
    fn deliver(&mut self, body: &Bytes, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        let (next, msgs) = codec::decode_batch(self.encoding, body)
            .map_err(|e| TransportError::protocol("poll", e))?;
        // Checked: a hostile server's cursor must not overflow (and panic) here.
        if self.cursor.checked_add(msgs.len() as u64) != Some(next) {
            return Err(TransportError::protocol(
                "poll",
                format!(
                    "{} messages from cursor {} but next cursor {next}",
                    msgs.len(),
                    self.cursor
                ),
            ));
        }
        self.cursor = next;
        let n = msgs.len();
        if n == 0 {
            self.counters.empty_polls.inc();
        } else {
            self.counters.messages_per_response.record(n as u64);
        }
        out.extend(msgs);
        Ok(n)
    }

    /// A 410: the cursor is older than retention, or from a server that since restarted. Moves
    /// it to the earliest retained message and counts what was skipped as a gap.
    fn skip_gone(&mut self, ex: &Exchange) -> Result<(), TransportError> {
        let (msg, earliest) = codec::decode_error(&ex.body);
        if let (Some(theirs), Some(e)) = (ex.epoch, earliest)
            && self.epoch != Some(theirs)
        {
            // A restarted server: the cursor belongs to its previous incarnation.
            // Everything the new one still holds is delivered; what it already dropped
            // counts as a gap.
            self.counters.cursor_resets.inc();
            self.counters.gap_messages.add(e);
            self.cursor = e;
            self.epoch = Some(theirs);
            return Ok(());
        }
        match earliest {
            Some(e) if e > self.cursor => {
                self.counters.gap_messages.add(e - self.cursor);
                self.cursor = e;
                Ok(())
            }
            _ => Err(TransportError::protocol(
                "poll",
                format!("410 without a usable earliest cursor: {msg}"),
            )),
        }
    }

    /// A 400: if it says the cursor is beyond a head that went backwards, the server restarted
    /// without an epoch, and the cursor resumes from its earliest message. Otherwise a refusal.
    fn reset_if_restarted(&mut self, ex: &Exchange) -> Result<(), TransportError> {
        match codec::decode_ahead(&ex.body) {
            Some((head, earliest)) if head < self.cursor && earliest <= head => {
                // The server's log went backwards: it restarted and lost its messages.
                // Messages the new server already dropped count as a gap.
                self.counters.cursor_resets.inc();
                self.counters.gap_messages.add(earliest);
                self.cursor = earliest;
                self.epoch = ex.epoch.or(self.epoch);
                Ok(())
            }
            _ => Err(refused("poll", ex)),
        }
    }
}

/// Whether a failed exchange is worth retrying: transport failures and server unavailability
/// are; a server that says the request itself is wrong is not.
fn retryable(result: &Result<Exchange, TransportError>) -> bool {
    match result {
        Ok(ex) => ex.status.is_server_error(),
        Err(TransportError::Config(_)) => false,
        Err(_) => true,
    }
}

impl Subscriber for LongPollSubscriber {
    async fn recv(&mut self, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        loop {
            let result = self.poll_once().await;
            if retryable(&result) {
                self.counters.poll_errors.inc();
                self.conn = None;
                let Some(delay) = self.backoff.fail() else {
                    return Err(match result {
                        Ok(ex) => refused("poll", &ex),
                        Err(e) => e,
                    });
                };
                tokio::time::sleep(delay).await;
                continue;
            }
            let ex = result?;
            self.backoff.reset();
            if let Some(n) = self.handle(ex, out)? {
                return Ok(n);
            }
        }
    }

    async fn close(self) -> Result<(), TransportError> {
        // Dropping the connection closes it; a parked poll on the server ends at its hold
        // deadline or when the server notices the close.
        drop(self.conn);
        Ok(())
    }
}
