//! The raw-TCP publisher and subscriber: one connection each, a hello frame, then messages.
//! After a break they reconnect (the crate docs say what is lost); the error paths sit outside
//! the hot path.

use std::io;

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use transport_core::{
    Backoff, ClientContext, Counter, CountingIo, Publisher, Subscriber, TransportError,
};

use crate::RawTcpConfig;
use crate::proto::{self, ACK, Role};

type Conn = Framed<CountingIo<TcpStream>, LengthDelimitedCodec>;

/// Connects, says hello, and waits for the server's acknowledgement.
async fn connect(
    config: &RawTcpConfig,
    addr: &str,
    role: Role,
    topic: &str,
    ctx: &ClientContext,
) -> Result<Conn, TransportError> {
    let stream = ctx.socket.connect(addr).await?;
    let io = CountingIo::with_handshake(stream, ctx.wire.clone());
    let flag = io.handshake_flag();
    let mut conn = Framed::new(io, proto::codec(config.max_frame_bytes));
    conn.send(proto::hello(role, topic))
        .await
        .map_err(TransportError::io("send hello"))?;
    match conn.next().await {
        Some(Ok(ack)) if ack[..] == [ACK] => {}
        Some(Ok(other)) => {
            return Err(TransportError::protocol(
                "hello",
                format!("unexpected reply {other:?}"),
            ));
        }
        Some(Err(e)) => {
            return Err(TransportError::Io {
                stage: "read hello reply",
                source: e,
            });
        }
        None => return Err(TransportError::Closed { stage: "hello" }),
    }
    flag.end();
    Ok(conn)
}

/// What a client needs to connect again after a break.
struct Redial {
    config: RawTcpConfig,
    addr: String,
    topic: String,
    role: Role,
    ctx: ClientContext,
    backoff: Backoff,
    reconnects: Counter,
    failures: Counter,
}

impl Redial {
    fn new(config: &RawTcpConfig, addr: &str, topic: &str, role: Role, ctx: ClientContext) -> Self {
        let prefix = match role {
            Role::Publisher => "publisher_",
            Role::Subscriber => "",
        };
        Redial {
            config: config.clone(),
            addr: addr.to_owned(),
            topic: topic.to_owned(),
            role,
            backoff: Backoff::new(config.backoff()),
            reconnects: ctx.counters.counter(&format!("{prefix}reconnects")),
            failures: ctx.counters.counter(&format!("{prefix}reconnect_failures")),
            ctx,
        }
    }

    async fn first(&self) -> Result<Conn, TransportError> {
        connect(&self.config, &self.addr, self.role, &self.topic, &self.ctx).await
    }

    /// Connects again with backoff; `cause` is returned if every attempt fails.
    async fn again(&mut self, cause: TransportError) -> Result<Conn, TransportError> {
        let mut last = cause;
        while self.backoff.wait().await {
            match self.first().await {
                Ok(conn) => {
                    self.backoff.reset();
                    self.reconnects.inc();
                    return Ok(conn);
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

/// Sends each message as one frame, flushed immediately (no client-side batching).
pub struct RawTcpPublisher {
    conn: Conn,
    redial: Redial,
}

impl RawTcpPublisher {
    pub(crate) async fn connect(
        config: &RawTcpConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<Self, TransportError> {
        let redial = Redial::new(config, addr, topic, Role::Publisher, ctx);
        Ok(RawTcpPublisher {
            conn: redial.first().await?,
            redial,
        })
    }

    /// After a failed write: reconnects, and sends the failed message again if none of its
    /// bytes left (it is then the whole of the codec's unsent buffer). Anything the old
    /// socket accepted but never delivered is lost: raw TCP keeps no log.
    #[cold]
    async fn recover(&mut self, e: io::Error, frame_len: usize) -> Result<(), TransportError> {
        if e.kind() == io::ErrorKind::InvalidInput {
            // The codec refused the frame (too large): not a connection problem.
            return Err(TransportError::Io {
                stage: "publish",
                source: e,
            });
        }
        let unsent = self.conn.write_buffer();
        let retry = (unsent.len() == frame_len).then(|| Bytes::copy_from_slice(unsent));
        let cause = TransportError::Io {
            stage: "publish",
            source: e,
        };
        self.conn = self.redial.again(cause).await?;
        if let Some(frame) = retry {
            self.conn.write_buffer_mut().extend_from_slice(&frame);
            SinkExt::<Bytes>::flush(&mut self.conn)
                .await
                .map_err(TransportError::io("publish"))?;
        }
        Ok(())
    }
}

impl Publisher for RawTcpPublisher {
    async fn publish(&mut self, msg: Bytes) -> Result<(), TransportError> {
        let frame_len = proto::FRAME_HEADER_LEN + msg.len();
        match self.conn.send(msg).await {
            Ok(()) => Ok(()),
            Err(e) => self.recover(e, frame_len).await,
        }
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        SinkExt::<Bytes>::flush(&mut self.conn)
            .await
            .map_err(TransportError::io("flush"))
    }

    async fn close(mut self) -> Result<(), TransportError> {
        SinkExt::<Bytes>::close(&mut self.conn)
            .await
            .map_err(TransportError::io("close"))
    }
}

/// Receives frames; one delivery unit is whatever a single socket read made available.
pub struct RawTcpSubscriber {
    conn: Conn,
    redial: Redial,
}

impl RawTcpSubscriber {
    pub(crate) async fn connect(
        config: &RawTcpConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<Self, TransportError> {
        let redial = Redial::new(config, addr, topic, Role::Subscriber, ctx);
        Ok(RawTcpSubscriber {
            conn: redial.first().await?,
            redial,
        })
    }
}

impl Subscriber for RawTcpSubscriber {
    async fn recv(&mut self, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        let first = loop {
            let cause = match self.conn.next().await {
                Some(Ok(m)) => break m,
                Some(Err(e)) => TransportError::Io {
                    stage: "recv",
                    source: e,
                },
                None => TransportError::Closed { stage: "recv" },
            };
            // A new subscription starts at the live edge: what was published meanwhile is lost.
            self.conn = self.redial.again(cause).await?;
        };
        out.push(first.freeze());
        let mut n = 1;
        // Frames already buffered belong to the same read.
        while let Some(Some(Ok(m))) = self.conn.next().now_or_never() {
            out.push(m.freeze());
            n += 1;
        }
        Ok(n)
    }

    async fn close(mut self) -> Result<(), TransportError> {
        SinkExt::<Bytes>::close(&mut self.conn)
            .await
            .map_err(TransportError::io("close"))
    }
}
