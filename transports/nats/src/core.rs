//! `nats-core`: plain NATS subjects. A publisher sends `PUB`s; a subscriber holds one `SUB`
//! and the server pushes every message to it. The server keeps nothing: a subscriber that is
//! disconnected misses what was published meanwhile (at-most-once), and the harness's audit
//! counts those messages as lost.

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use transport_core::{ClientContext, TransportError};

use crate::client::{self, Conn};
use crate::config::CoreConfig;

/// Most messages one `recv` hands over: what async-nats has already read, up to this.
pub(crate) const UNIT_CAP: usize = 4096;

/// A publisher of one subject.
pub struct CorePublisher {
    conn: Conn,
    subject: String,
}

/// A subscriber of one subject.
pub struct CoreSubscriber {
    conn: Conn,
    sub: async_nats::Subscriber,
}

pub(crate) fn publish_error(e: impl std::fmt::Display) -> TransportError {
    TransportError::Io {
        stage: "publish",
        source: std::io::Error::other(e.to_string()),
    }
}

/// A subject nobody subscribes to: a request to it comes back from the server as "no
/// responders".
const BARRIER_SUBJECT: &str = "_tb.barrier";

/// Waits until the server has processed everything this client sent before. async-nats'
/// `flush` only writes its buffer; a request to a subject without subscribers is answered by
/// the server itself ("no responders") after every earlier command on the connection, and
/// its answer carries the TCP acknowledgement of all of them.
pub(crate) async fn round_trip(conn: &Conn, stage: &'static str) -> Result<(), TransportError> {
    use async_nats::RequestErrorKind;
    match conn.client.request(BARRIER_SUBJECT, Bytes::new()).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == RequestErrorKind::NoResponders => Ok(()),
        Err(e) if e.kind() == RequestErrorKind::TimedOut => Err(TransportError::Timeout {
            stage,
            after_ms: 10_000,
        }),
        Err(e) => Err(TransportError::Io {
            stage,
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

/// Connects a publisher of `topic`.
pub async fn publisher(
    config: &CoreConfig,
    addr: &str,
    topic: &str,
    ctx: ClientContext,
) -> Result<CorePublisher, TransportError> {
    let name = format!("pub-{}", ctx.client_index);
    let conn = client::connect(config, addr, &name, &ctx).await?;
    conn.tally.end_handshake();
    Ok(CorePublisher {
        conn,
        subject: client::subject(topic),
    })
}

/// Subscribes to `topic` and returns once the server has the subscription.
pub async fn subscriber(
    config: &CoreConfig,
    addr: &str,
    topic: &str,
    ctx: ClientContext,
) -> Result<CoreSubscriber, TransportError> {
    let name = format!("sub-{}", ctx.client_index);
    let conn = client::connect(config, addr, &name, &ctx).await?;
    let sub = conn
        .client
        .subscribe(client::subject(topic))
        .await
        .map_err(|e| TransportError::Io {
            stage: "subscribe",
            source: std::io::Error::other(e.to_string()),
        })?;
    round_trip(&conn, "subscribe").await?;
    conn.tally.end_handshake();
    Ok(CoreSubscriber { conn, sub })
}

impl transport_core::Publisher for CorePublisher {
    async fn publish(&mut self, msg: Bytes) -> Result<(), TransportError> {
        // Queued in the client's bounded command channel, written by its connection task.
        self.conn
            .client
            .publish(self.subject.clone(), msg)
            .await
            .map_err(publish_error)
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        round_trip(&self.conn, "flush").await
    }

    async fn close(mut self) -> Result<(), TransportError> {
        self.flush().await?;
        self.conn.finish();
        Ok(())
    }
}

impl transport_core::Subscriber for CoreSubscriber {
    async fn recv(&mut self, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        let Some(first) = self.sub.next().await else {
            return Err(TransportError::Closed { stage: "receive" });
        };
        out.push(first.payload);
        let mut n = 1;
        while n < UNIT_CAP {
            match self.sub.next().now_or_never() {
                Some(Some(m)) => {
                    out.push(m.payload);
                    n += 1;
                }
                _ => break,
            }
        }
        Ok(n)
    }

    async fn close(mut self) -> Result<(), TransportError> {
        let _ = self.sub.unsubscribe().await;
        let _ = round_trip(&self.conn, "unsubscribe").await;
        self.conn.finish();
        Ok(())
    }
}
