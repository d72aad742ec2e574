//! Connections of every Redis client here: a TCP socket from the client's source, wrapped in
//! the client's `CountingIo` (so bytes are counted at the socket and a lagging consumer's read
//! gate applies), handed to redis-rs, which speaks RESP2 over it. The connection's setup
//! (redis-rs's `CLIENT SETINFO` pipeline, then whatever the caller does before
//! [`Counted::end_handshake`]: `SUBSCRIBE`, the stream's last id) counts as handshake.

use std::time::Duration;

use redis::aio::{MultiplexedConnection, PubSub};
use redis::{AsyncConnectionConfig, RedisConnectionInfo, RedisError};
use transport_core::{ClientContext, HandshakeFlag, TransportError};

/// A redis-rs connection over a counted socket, and the switch that ends its handshake.
pub struct Counted<C> {
    /// The connection.
    pub conn: C,
    handshake: HandshakeFlag,
}

impl<C> Counted<C> {
    /// From now on, this connection's bytes are steady-state bytes.
    pub fn end_handshake(&self) {
        self.handshake.end();
    }
}

/// Maps a redis-rs error at `stage`: a lost connection is `Closed` and a reply that did not
/// come in time `Io` (`TimedOut`), both worth a reconnect ([`broken`]); an error reply is
/// `Refused`, the rest a protocol error.
pub fn error(stage: &'static str) -> impl Fn(RedisError) -> TransportError {
    move |e| {
        if e.is_timeout() {
            // The bound is the connection's response timeout, set where it was made.
            TransportError::Io {
                stage,
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, e.to_string()),
            }
        } else if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
            TransportError::Closed { stage }
        } else if e.code().is_some() {
            TransportError::Refused {
                stage,
                detail: e.to_string(),
            }
        } else {
            TransportError::protocol(stage, e.to_string())
        }
    }
}

/// A multiplexed (pipelining) connection to `addr`; `response_timeout` bounds each reply
/// (`None`: the caller bounds its own waits, as a blocking read must).
pub async fn multiplexed(
    ctx: &ClientContext,
    addr: &str,
    response_timeout: Option<Duration>,
) -> Result<Counted<MultiplexedConnection>, TransportError> {
    let io = ctx.counted(ctx.connect(addr).await?);
    let handshake = io.handshake_flag();
    let config = AsyncConnectionConfig::new().set_response_timeout(response_timeout);
    let (conn, driver) =
        MultiplexedConnection::new_with_config(&RedisConnectionInfo::default(), io, config)
            .await
            .map_err(error("connect"))?;
    // The driver moves requests and replies; it ends when the connection's last handle drops.
    tokio::spawn(driver);
    Ok(Counted { conn, handshake })
}

/// A RESP2 Pub/Sub connection to `addr`.
pub async fn pubsub(ctx: &ClientContext, addr: &str) -> Result<Counted<PubSub>, TransportError> {
    let io = ctx.counted(ctx.connect(addr).await?);
    let handshake = io.handshake_flag();
    let conn = PubSub::new(&RedisConnectionInfo::default(), io)
        .await
        .map_err(error("connect"))?;
    Ok(Counted { conn, handshake })
}

/// Whether `e` means the connection is gone (reconnect), not that the server refused.
pub fn broken(e: &TransportError) -> bool {
    matches!(
        e,
        TransportError::Closed { .. } | TransportError::Io { .. } | TransportError::Timeout { .. }
    )
}
