//! Redis, one production server with push and pull on it: Pub/Sub pushes each `PUBLISH` to
//! every subscriber and keeps nothing (at-most-once; a slow subscriber is cut off by
//! `client-output-buffer-limit pubsub`), while Streams keeps a log that each subscriber pulls
//! with a held `XREAD … BLOCK` (long polling on a log; resumes from its last id). Holding the
//! server constant, the two transports answer "push or pull?" for one implementation.
//!
//! [`RedisPubSub`] (`redis-pubsub`) and [`RedisStreams`] (`redis-streams`) share the managed
//! server ([`server`], a program started through `transport_program`), the publisher
//! ([`publisher`]: pipelined `PUBLISH` or `XADD`) and the connection set-up ([`conn`]). The
//! client is redis-rs over a socket we hand it, wrapped in `CountingIo`: every byte is counted
//! at the client's socket, the set-up apart as handshake. The server's sockets are not ours
//! to count; on loopback they carry the mirror of the clients' bytes.

pub mod config;
pub mod conn;
pub mod publisher;
pub mod pubsub;
pub mod server;
pub mod streams;

use tokio::net::TcpListener;
use transport_core::{
    Capabilities, ClientContext, OptionDoc, ServerContext, ServerKind, Transport, TransportError,
};

pub use config::{PubSubConfig, StreamsConfig};
pub use publisher::{Command, RedisPublisher};
pub use pubsub::PubSubSubscriber;
pub use server::RedisServer;
pub use streams::StreamsSubscriber;

/// Where a Redis transport's server can be: a managed redis-server, or someone else's.
const KINDS: &[ServerKind] = &[ServerKind::Program, ServerKind::Remote];

/// Redis Pub/Sub: push, no state on the server, at-most-once across a reconnect.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisPubSub;

/// Redis Streams: a log pulled with held `XREAD BLOCK` reads, resumed from the last id.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisStreams;

impl Transport for RedisPubSub {
    const NAME: &'static str = "redis-pubsub";
    type Config = PubSubConfig;
    type Server = RedisServer;
    type Publisher = RedisPublisher;
    type Subscriber = PubSubSubscriber;

    fn options() -> &'static [OptionDoc] {
        config::PUBSUB_OPTIONS
    }

    fn capabilities() -> Capabilities {
        // Pub/Sub keeps nothing: what is published while a subscriber reconnects is lost.
        Capabilities { resumes: false }
    }

    fn guarantee() -> &'static str {
        "at-most-once: Pub/Sub keeps nothing, so what is published while a subscriber \
         reconnects is lost (counted); a subscriber past `client-output-buffer-limit pubsub` \
         (32mb, or 8mb for 60 s) is cut off by the server"
    }

    fn server_kinds() -> &'static [ServerKind] {
        KINDS
    }

    fn validate(config: &PubSubConfig) -> Result<(), String> {
        config.validate()
    }

    fn preflight(config: &PubSubConfig) -> Result<(), TransportError> {
        server::check(&config.server())
    }

    async fn serve(
        config: &PubSubConfig,
        listener: TcpListener,
        ctx: ServerContext,
    ) -> Result<RedisServer, TransportError> {
        config.validate().map_err(TransportError::Config)?;
        server::start(&config.server(), listener, &ctx).await
    }

    async fn publisher(
        config: &PubSubConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<RedisPublisher, TransportError> {
        publisher::connect(addr, topic, Command::Publish, config.reconnect, ctx).await
    }

    async fn subscriber(
        config: &PubSubConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<PubSubSubscriber, TransportError> {
        pubsub::connect(addr, topic, config.reconnect, ctx).await
    }
}

impl Transport for RedisStreams {
    const NAME: &'static str = "redis-streams";
    type Config = StreamsConfig;
    type Server = RedisServer;
    type Publisher = RedisPublisher;
    type Subscriber = StreamsSubscriber;

    fn options() -> &'static [OptionDoc] {
        config::STREAMS_OPTIONS
    }

    fn capabilities() -> Capabilities {
        Capabilities { resumes: true }
    }

    fn server_kinds() -> &'static [ServerKind] {
        KINDS
    }

    fn validate(config: &StreamsConfig) -> Result<(), String> {
        config.validate()
    }

    fn preflight(config: &StreamsConfig) -> Result<(), TransportError> {
        server::check(&config.server())
    }

    async fn serve(
        config: &StreamsConfig,
        listener: TcpListener,
        ctx: ServerContext,
    ) -> Result<RedisServer, TransportError> {
        config.validate().map_err(TransportError::Config)?;
        server::start(&config.server(), listener, &ctx).await
    }

    async fn publisher(
        config: &StreamsConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<RedisPublisher, TransportError> {
        let command = Command::XAdd {
            maxlen: config.maxlen,
        };
        publisher::connect(addr, topic, command, config.reconnect, ctx).await
    }

    async fn subscriber(
        config: &StreamsConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<StreamsSubscriber, TransportError> {
        streams::connect(config, addr, topic, ctx).await
    }
}
