//! `redis-pubsub`'s subscriber: `SUBSCRIBE topic` on a connection of its own; the server pushes
//! every `PUBLISH` to it as it happens and keeps nothing. At-most-once: after a broken
//! connection the subscriber reconnects and subscribes again, and whatever was published in
//! between is gone, which the harness's audit counts as lost (Redis has no resume).

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use redis::aio::{PubSubSink, PubSubStream};
use transport_core::{Backoff, BackoffConfig, ClientContext, Subscriber, TransportError};

use crate::conn;

/// Most messages handed over per `recv`: those already decoded when the first arrives.
const MAX_UNIT: usize = 1024;

/// A Pub/Sub subscriber.
pub struct PubSubSubscriber {
    /// Kept so the connection stays up (its driver ends when both halves are gone).
    _sink: PubSubSink,
    stream: PubSubStream,
    addr: String,
    topic: String,
    ctx: ClientContext,
    backoff: Backoff,
}

/// Connects, subscribes, and returns once the server confirmed the subscription: every
/// message published afterwards reaches it.
pub async fn connect(
    addr: &str,
    topic: &str,
    reconnect: BackoffConfig,
    ctx: ClientContext,
) -> Result<PubSubSubscriber, TransportError> {
    let (sink, stream) = subscribe(&ctx, addr, topic).await?;
    // Under the run's reconnect policy (full jitter, or the herd's no wait at all).
    let backoff = ctx.backoff(reconnect);
    Ok(PubSubSubscriber {
        _sink: sink,
        stream,
        addr: addr.to_owned(),
        topic: topic.to_owned(),
        ctx,
        backoff,
    })
}

/// One connection with `SUBSCRIBE topic` confirmed (the confirmation ends the handshake).
async fn subscribe(
    ctx: &ClientContext,
    addr: &str,
    topic: &str,
) -> Result<(PubSubSink, PubSubStream), TransportError> {
    let mut counted = conn::pubsub(ctx, addr).await?;
    counted
        .conn
        .subscribe(topic)
        .await
        .map_err(conn::error("subscribe"))?;
    counted.end_handshake();
    Ok(counted.conn.split())
}

impl PubSubSubscriber {
    /// A new subscription after the connection broke, or `Closed` once the backoff gives up.
    async fn resubscribe(&mut self) -> Result<(), TransportError> {
        loop {
            if !self.backoff.wait().await {
                return Err(TransportError::Closed { stage: "subscribe" });
            }
            self.ctx.counters.counter("subscriber_reconnects").inc();
            if let Ok((sink, stream)) = subscribe(&self.ctx, &self.addr, &self.topic).await {
                self._sink = sink;
                self.stream = stream;
                return Ok(());
            }
        }
    }
}

impl Subscriber for PubSubSubscriber {
    async fn recv(&mut self, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        let first = loop {
            match self.stream.next().await {
                Some(msg) => break msg,
                None => self.resubscribe().await?,
            }
        };
        self.backoff.reset();
        out.push(Bytes::copy_from_slice(first.get_payload_bytes()));
        let mut n = 1;
        // The rest of what one socket read brought: messages already decoded and waiting.
        while n < MAX_UNIT {
            match self.stream.next().now_or_never() {
                Some(Some(msg)) => {
                    out.push(Bytes::copy_from_slice(msg.get_payload_bytes()));
                    n += 1;
                }
                _ => break,
            }
        }
        Ok(n)
    }

    async fn close(self) -> Result<(), TransportError> {
        // Dropping both halves ends the driver, which closes the socket.
        Ok(())
    }
}
