//! The raw-TCP publisher and subscriber: one connection each, a hello frame, then messages.

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use transport_core::{ClientContext, CountingIo, Publisher, Subscriber, TransportError};

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

/// Sends each message as one frame, flushed immediately (no client-side batching).
pub struct RawTcpPublisher {
    conn: Conn,
}

impl RawTcpPublisher {
    pub(crate) async fn connect(
        config: &RawTcpConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<Self, TransportError> {
        Ok(RawTcpPublisher {
            conn: connect(config, addr, Role::Publisher, topic, &ctx).await?,
        })
    }
}

impl Publisher for RawTcpPublisher {
    async fn publish(&mut self, msg: Bytes) -> Result<(), TransportError> {
        self.conn
            .send(msg)
            .await
            .map_err(TransportError::io("publish"))
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
}

impl RawTcpSubscriber {
    pub(crate) async fn connect(
        config: &RawTcpConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<Self, TransportError> {
        Ok(RawTcpSubscriber {
            conn: connect(config, addr, Role::Subscriber, topic, &ctx).await?,
        })
    }
}

impl Subscriber for RawTcpSubscriber {
    async fn recv(&mut self, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        let first = match self.conn.next().await {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                return Err(TransportError::Io {
                    stage: "recv",
                    source: e,
                });
            }
            None => return Err(TransportError::Closed { stage: "recv" }),
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
