//! One raw-TCP client connection: dial from the client's source, hello and its reply within a
//! bound, frame reads, and redialling with backoff after a break. Publisher and subscriber
//! both build on it.

use futures_util::{SinkExt, StreamExt};
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use transport_core::{Backoff, ClientContext, Counter, TransportError};

use crate::RawTcpConfig;
use crate::proto::{self, Hello};

pub(super) type Conn = Framed<transport_core::Conn, LengthDelimitedCodec>;

/// How long a hello may wait for its reply.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What the server said in reply to a hello.
#[derive(Debug, Clone, Copy)]
pub(super) struct Accepted {
    /// The server incarnation.
    pub(super) epoch: u64,
    /// Publisher: the session's relayed count; subscriber: the first position it will receive.
    pub(super) position: u64,
}

/// Reads one frame from a connection or its read half, naming `stage` in the error.
pub(super) async fn read_frame<S>(
    conn: &mut S,
    stage: &'static str,
) -> Result<bytes::BytesMut, TransportError>
where
    S: futures_util::Stream<Item = std::io::Result<bytes::BytesMut>> + Unpin,
{
    match conn.next().await {
        Some(Ok(frame)) => Ok(frame),
        Some(Err(e)) => Err(TransportError::Io { stage, source: e }),
        None => Err(TransportError::Closed { stage }),
    }
}

/// Connects, says hello, and waits for the server's reply.
async fn connect(
    config: &RawTcpConfig,
    addr: &str,
    hello: Hello,
    topic: &str,
    ctx: &ClientContext,
) -> Result<(Conn, Accepted), TransportError> {
    let io = ctx.open(addr).await?;
    let flag = io.handshake_flag();
    let mut conn = Framed::new(io, proto::codec(config.max_frame_bytes));
    let exchange = async {
        conn.send(proto::hello(hello, topic))
            .await
            .map_err(TransportError::io("send hello"))?;
        read_frame(&mut conn, "read hello reply").await
    };
    // A server that accepted but never answers (overloaded, or a blackholed link) must not
    // hold a client forever: a timeout is one more failed attempt.
    let reply = tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange)
        .await
        .map_err(|_| TransportError::Timeout {
            stage: "hello",
            after_ms: HANDSHAKE_TIMEOUT.as_millis() as u64,
        })??;
    let (epoch, position) =
        proto::parse_ack(&reply).map_err(|d| TransportError::protocol("hello", d))?;
    flag.end();
    Ok((conn, Accepted { epoch, position }))
}

/// What a client needs to connect again after a break.
pub(super) struct Redial {
    config: RawTcpConfig,
    addr: String,
    topic: String,
    ctx: ClientContext,
    backoff: Backoff,
    reconnects: Counter,
    failures: Counter,
}

impl Redial {
    /// `prefix` keeps publisher and subscriber counters apart in the harness's report.
    pub(super) fn new(
        config: &RawTcpConfig,
        addr: &str,
        topic: &str,
        prefix: &str,
        ctx: ClientContext,
    ) -> Self {
        Redial {
            config: config.clone(),
            addr: addr.to_owned(),
            topic: topic.to_owned(),
            backoff: ctx.backoff(config.backoff()),
            reconnects: ctx.counters.counter(&format!("{prefix}reconnects")),
            failures: ctx.counters.counter(&format!("{prefix}reconnect_failures")),
            ctx,
        }
    }

    pub(super) async fn first(&self, hello: Hello) -> Result<(Conn, Accepted), TransportError> {
        connect(&self.config, &self.addr, hello, &self.topic, &self.ctx).await
    }

    /// Called once a reconnect has fully succeeded (for a publisher: its resend went out), so
    /// the next failure starts from the shortest backoff again. A failure after the handshake
    /// must not reset it, or a client would retry at the base delay forever.
    pub(super) fn settled(&mut self) {
        self.backoff.reset();
    }

    /// Connects again with backoff; `cause` is returned if every attempt fails.
    pub(super) async fn again(
        &mut self,
        hello: Hello,
        cause: TransportError,
    ) -> Result<(Conn, Accepted), TransportError> {
        let mut last = cause;
        while self.backoff.wait().await {
            match self.first(hello).await {
                Ok(done) => {
                    self.reconnects.inc();
                    return Ok(done);
                }
                Err(e) => {
                    self.failures.inc();
                    last = e;
                }
            }
        }
        Err(last)
    }
}
