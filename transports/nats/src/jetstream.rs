//! What the two JetStream transports share: the memory-stored stream a topic maps to, the
//! publisher (each publish acknowledged by the stream, a bounded window of them in flight),
//! and acknowledging what a subscriber received under the configured ack policy.

use std::collections::VecDeque;
use std::time::Duration;

use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::stream::{self, DiscardPolicy, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, Context};
use bytes::Bytes;
use transport_core::{ClientContext, TransportError};

use crate::client::{self, Conn};
use crate::config::{AckPolicy, ServerOptions};
use crate::core::{publish_error, round_trip};

/// Bound on one JetStream API request (stream or consumer creation, a publish ack).
pub(crate) const API_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn api_error(stage: &'static str, e: impl std::fmt::Display) -> TransportError {
    TransportError::Refused {
        stage,
        detail: e.to_string(),
    }
}

/// The JetStream context of `conn`, its requests bounded by [`API_TIMEOUT`].
pub(crate) fn context(conn: &Conn) -> Context {
    let mut js = jetstream::new(conn.client.clone());
    js.set_timeout(API_TIMEOUT);
    js
}

/// Creates `topic`'s stream, in memory, keeping at most `max_msgs` (the oldest go first), or
/// finds it if it is there.
pub(crate) async fn ensure_stream(
    js: &Context,
    topic: &str,
    max_msgs: i64,
) -> Result<stream::Stream, TransportError> {
    js.get_or_create_stream(stream::Config {
        name: client::stream_name(topic),
        subjects: vec![client::subject(topic)],
        storage: StorageType::Memory,
        retention: RetentionPolicy::Limits,
        discard: DiscardPolicy::Old,
        max_messages: max_msgs,
        num_replicas: 1,
        ..Default::default()
    })
    .await
    .map_err(|e| api_error("create stream", e))
}

/// A publisher into a topic's stream: each message is acknowledged by the stream.
pub struct JsPublisher {
    conn: Conn,
    js: Context,
    subject: String,
    window: usize,
    pending: VecDeque<PublishAckFuture>,
}

/// Connects a publisher of `topic`, creating its stream if needed.
pub async fn publisher(
    options: &impl ServerOptions,
    max_msgs: i64,
    window: usize,
    addr: &str,
    topic: &str,
    ctx: ClientContext,
) -> Result<JsPublisher, TransportError> {
    let name = format!("pub-{}", ctx.client_index);
    let conn = client::connect(options, addr, &name, &ctx).await?;
    let js = context(&conn);
    ensure_stream(&js, topic, max_msgs).await?;
    conn.tally.end_handshake();
    Ok(JsPublisher {
        conn,
        js,
        subject: client::subject(topic),
        window,
        pending: VecDeque::new(),
    })
}

impl JsPublisher {
    /// Waits for the oldest publish's ack.
    async fn settle_one(&mut self) -> Result<(), TransportError> {
        if let Some(ack) = self.pending.pop_front() {
            ack.await.map_err(|e| api_error("publish ack", e))?;
        }
        Ok(())
    }
}

impl transport_core::Publisher for JsPublisher {
    async fn publish(&mut self, msg: Bytes) -> Result<(), TransportError> {
        while self.pending.len() >= self.window {
            self.settle_one().await?;
        }
        let ack = self
            .js
            .publish(self.subject.clone(), msg)
            .await
            .map_err(publish_error)?;
        self.pending.push_back(ack);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        while !self.pending.is_empty() {
            self.settle_one().await?;
        }
        Ok(())
    }

    async fn close(mut self) -> Result<(), TransportError> {
        self.flush().await?;
        round_trip(&self.conn, "close").await?;
        self.conn.finish();
        Ok(())
    }
}

/// Acknowledges a delivery unit: every message (`explicit`), the last one (`all`), or none.
pub(crate) async fn ack_unit(
    policy: AckPolicy,
    unit: &[jetstream::Message],
) -> Result<(), TransportError> {
    let to_ack = match policy {
        AckPolicy::Explicit => unit,
        AckPolicy::All => unit.last().map(std::slice::from_ref).unwrap_or_default(),
        AckPolicy::None => &[],
    };
    for m in to_ack {
        m.ack().await.map_err(|e| api_error("ack", e))?;
    }
    Ok(())
}

/// Deletes a durable consumer when its subscriber closes, so a server someone else runs does
/// not keep consumers from finished runs; bounded, and a failure is not the run's.
pub(crate) async fn delete_consumer(stream: &stream::Stream, name: &str) {
    let _ = tokio::time::timeout(API_TIMEOUT, stream.delete_consumer(name)).await;
}
