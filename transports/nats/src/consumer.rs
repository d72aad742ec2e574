//! `nats-push` and `nats-pull`: one durable JetStream consumer per subscriber on the topic's
//! stream, created with deliver policy "new" (so it is live for everything published after
//! `subscriber` returns). Push: the server sends to the consumer's deliver subject, paced by
//! flow control and `max_ack_pending`. Pull: the client asks with pull requests of `batch`
//! messages, held up to `expires`, at most `max_bytes` (async-nats keeps the next request
//! pipelined). Both resume after a reconnect from the consumer's acknowledged position: what
//! was lost in flight is redelivered after `ack_wait`.

use std::fmt::Display;

use async_nats::jetstream::consumer::{DeliverPolicy, pull, push};
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use futures_util::{FutureExt, Stream, StreamExt};
use transport_core::{ClientContext, Counter, TransportError};

use crate::client::{self, Conn};
use crate::config::{AckPolicy, PullConfig, PushConfig};
use crate::core::{UNIT_CAP, round_trip};
use crate::jetstream::{ack_unit, api_error, context, delete_consumer, ensure_stream};

/// Errors in a row (missed heartbeats while reconnecting, ...) before a subscriber gives up.
const MAX_ERRORS_IN_A_ROW: u32 = 100;

/// A subscriber reading a JetStream consumer's messages from `S` (push or pull).
pub struct JsSubscriber<S> {
    conn: Conn,
    stream: stream::Stream,
    consumer: String,
    messages: S,
    policy: AckPolicy,
    unit: Vec<jetstream::Message>,
    errors: Counter,
}

/// A `nats-push` subscriber.
pub type PushSubscriber = JsSubscriber<push::Messages>;
/// A `nats-pull` subscriber.
pub type PullSubscriber = JsSubscriber<pull::Stream>;

/// Connects and creates the topic's stream (if needed) for subscriber `ctx.client_index`,
/// removing a consumer of the same name a finished run may have left on the server.
async fn prepare(
    options: &impl crate::config::ServerOptions,
    max_msgs: i64,
    addr: &str,
    topic: &str,
    ctx: &ClientContext,
) -> Result<(Conn, stream::Stream, String), TransportError> {
    let name = client::consumer_name(topic, ctx.client_index);
    let conn = client::connect(options, addr, &format!("sub-{}", ctx.client_index), ctx).await?;
    let stream = ensure_stream(&context(&conn), topic, max_msgs).await?;
    delete_consumer(&stream, &name).await;
    Ok((conn, stream, name))
}

/// Subscribes to `topic` with a durable push consumer.
pub async fn push_subscriber(
    config: &PushConfig,
    addr: &str,
    topic: &str,
    ctx: ClientContext,
) -> Result<PushSubscriber, TransportError> {
    let (conn, stream, name) = prepare(config, config.stream_max_msgs, addr, topic, &ctx).await?;
    let consumer: jetstream::consumer::PushConsumer = stream
        .create_consumer(push::Config {
            durable_name: Some(name.clone()),
            deliver_subject: conn.client.new_inbox(),
            deliver_policy: DeliverPolicy::New,
            ack_policy: config.ack_policy.to_nats(),
            ack_wait: config.ack_wait,
            max_ack_pending: config.max_ack_pending,
            flow_control: config.flow_control,
            idle_heartbeat: config.idle_heartbeat,
            ..Default::default()
        })
        .await
        .map_err(|e| api_error("create push consumer", e))?;
    let messages = consumer
        .messages()
        .await
        .map_err(|e| api_error("subscribe push consumer", e))?;
    finish(conn, stream, name, messages, config.ack_policy, &ctx).await
}

/// Subscribes to `topic` with a durable pull consumer, fetching as the options say.
pub async fn pull_subscriber(
    config: &PullConfig,
    addr: &str,
    topic: &str,
    ctx: ClientContext,
) -> Result<PullSubscriber, TransportError> {
    let (conn, stream, name) = prepare(config, config.stream_max_msgs, addr, topic, &ctx).await?;
    let consumer: jetstream::consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some(name.clone()),
            deliver_policy: DeliverPolicy::New,
            ack_policy: config.ack_policy.to_nats(),
            ack_wait: config.ack_wait,
            ..Default::default()
        })
        .await
        .map_err(|e| api_error("create pull consumer", e))?;
    let mut fetch = consumer
        .stream()
        .max_messages_per_batch(config.batch)
        .expires(config.expires);
    if config.max_bytes > 0 {
        fetch = fetch.max_bytes_per_batch(config.max_bytes);
    }
    let messages = fetch
        .messages()
        .await
        .map_err(|e| api_error("start pulling", e))?;
    finish(conn, stream, name, messages, config.ack_policy, &ctx).await
}

/// Waits until the server has seen everything sent so far, then ends the handshake.
async fn finish<S>(
    conn: Conn,
    stream: stream::Stream,
    consumer: String,
    messages: S,
    policy: AckPolicy,
    ctx: &ClientContext,
) -> Result<JsSubscriber<S>, TransportError> {
    round_trip(&conn, "subscribe").await?;
    conn.tally.end_handshake();
    Ok(JsSubscriber {
        conn,
        stream,
        consumer,
        messages,
        policy,
        unit: Vec::new(),
        errors: ctx.counters.counter("nats_consumer_errors"),
    })
}

impl<S, E> JsSubscriber<S>
where
    S: Stream<Item = Result<jetstream::Message, E>> + Unpin + Send + 'static,
    E: Display,
{
    /// The next message, skipping (and counting) errors the client recovers from.
    async fn next_message(&mut self) -> Result<jetstream::Message, TransportError> {
        let mut in_a_row = 0;
        loop {
            match self.messages.next().await {
                Some(Ok(m)) => return Ok(m),
                None => return Err(TransportError::Closed { stage: "receive" }),
                Some(Err(e)) => {
                    self.errors.inc();
                    in_a_row += 1;
                    if in_a_row >= MAX_ERRORS_IN_A_ROW {
                        return Err(api_error("receive", e));
                    }
                }
            }
        }
    }
}

impl<S, E> transport_core::Subscriber for JsSubscriber<S>
where
    S: Stream<Item = Result<jetstream::Message, E>> + Unpin + Send + 'static,
    E: Display + Send,
{
    async fn recv(&mut self, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        let first = self.next_message().await?;
        self.unit.clear();
        self.unit.push(first);
        while self.unit.len() < UNIT_CAP {
            match self.messages.next().now_or_never() {
                Some(Some(Ok(m))) => self.unit.push(m),
                Some(Some(Err(_))) => self.errors.inc(),
                _ => break,
            }
        }
        out.extend(self.unit.iter().map(|m| m.message.payload.clone()));
        ack_unit(self.policy, &self.unit).await?;
        Ok(self.unit.len())
    }

    async fn close(self) -> Result<(), TransportError> {
        drop(self.messages);
        delete_consumer(&self.stream, &self.consumer).await;
        let _ = round_trip(&self.conn, "close").await;
        self.conn.finish();
        Ok(())
    }
}
