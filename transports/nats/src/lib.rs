//! NATS: one production broker that offers push and pull on the same server, so the push or
//! pull question can be answered with the implementation held constant.
//!
//! Three transports on one nats-server: [`NatsCore`] (`nats-core`: plain subjects, the server
//! pushes, keeps nothing, at-most-once), [`NatsPush`] (`nats-push`: a durable JetStream push
//! consumer per subscriber, flow-controlled) and [`NatsPull`] (`nats-pull`: a durable JetStream
//! pull consumer per subscriber, fetching with `batch`, `expires` and `max_bytes`). The
//! harness's envelope is each message's payload. The clients are async-nats; the server is a
//! program we did not write, started by [`Transport::serve`] as a managed program
//! ([`server`]), or someone else's (`address`, `run --server`).
//!
//! Wire bytes: async-nats opens its own sockets and takes no stream, so `CountingIo` cannot
//! wrap them; each client connects from a local address we choose and its connection's bytes
//! are the kernel's own counters for that four-tuple ([`client`],
//! `transport_program::SocketTally`), exact at every snapshot. Connection setup (INFO,
//! CONNECT, stream and consumer creation) is handshake. The server's bytes are not ours to
//! count: on loopback they mirror the clients'.

pub mod client;
pub mod config;
pub mod consumer;
pub mod core;
pub mod jetstream;
pub mod server;

use tokio::net::TcpListener;
use transport_core::{
    Capabilities, ClientContext, OptionDoc, ServerContext, ServerKind, Transport, TransportError,
};

pub use config::{AckPolicy, CoreConfig, PullConfig, PushConfig};
pub use consumer::{PullSubscriber, PushSubscriber};
pub use core::{CorePublisher, CoreSubscriber};
pub use jetstream::JsPublisher;
pub use server::NatsServer;

/// Where a NATS transport's server can be: a managed nats-server, or someone else's.
const KINDS: &[ServerKind] = &[ServerKind::Program, ServerKind::Remote];

/// Core NATS subjects: push, no state at the server, at-most-once.
#[derive(Debug, Clone, Copy, Default)]
pub struct NatsCore;

/// A JetStream push consumer per subscriber: the server pushes, flow-controlled, acked.
#[derive(Debug, Clone, Copy, Default)]
pub struct NatsPush;

/// A JetStream pull consumer per subscriber: the client fetches in batches, acked.
#[derive(Debug, Clone, Copy, Default)]
pub struct NatsPull;

async fn serve(
    options: &impl config::ServerOptions,
    listener: TcpListener,
    ctx: &ServerContext,
) -> Result<NatsServer, TransportError> {
    if !ctx.socket.nodelay {
        return Err(TransportError::Config(
            "the NATS transports cannot turn TCP_NODELAY off (nats-server and async-nats set it)"
                .into(),
        ));
    }
    server::start(options, listener).await
}

impl Transport for NatsCore {
    const NAME: &'static str = "nats-core";
    type Config = CoreConfig;
    type Server = NatsServer;
    type Publisher = CorePublisher;
    type Subscriber = CoreSubscriber;

    fn options() -> &'static [OptionDoc] {
        config::CORE_OPTIONS
    }

    fn capabilities() -> Capabilities {
        // At-most-once: a disconnected subscriber misses what was published meanwhile.
        Capabilities { resumes: false }
    }

    fn server_kinds() -> &'static [ServerKind] {
        KINDS
    }

    fn validate(config: &CoreConfig) -> Result<(), String> {
        config.validate()
    }

    fn preflight(config: &CoreConfig) -> Result<(), TransportError> {
        server::check(config)
    }

    async fn serve(
        config: &CoreConfig,
        listener: TcpListener,
        ctx: ServerContext,
    ) -> Result<NatsServer, TransportError> {
        serve(config, listener, &ctx).await
    }

    async fn publisher(
        config: &CoreConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<CorePublisher, TransportError> {
        core::publisher(config, addr, topic, ctx).await
    }

    async fn subscriber(
        config: &CoreConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<CoreSubscriber, TransportError> {
        core::subscriber(config, addr, topic, ctx).await
    }
}

/// The parts the two JetStream transports share; they differ in options and subscriber.
macro_rules! jetstream_transport {
    ($ty:ident, $name:literal, $config:ty, $options:expr, $sub:ty, $connect:path) => {
        impl Transport for $ty {
            const NAME: &'static str = $name;
            type Config = $config;
            type Server = NatsServer;
            type Publisher = JsPublisher;
            type Subscriber = $sub;

            fn options() -> &'static [OptionDoc] {
                $options
            }

            fn capabilities() -> Capabilities {
                // A durable consumer resumes from its acknowledged position.
                Capabilities { resumes: true }
            }

            fn server_kinds() -> &'static [ServerKind] {
                KINDS
            }

            fn validate(config: &$config) -> Result<(), String> {
                config.validate()
            }

            fn preflight(config: &$config) -> Result<(), TransportError> {
                server::check(config)
            }

            async fn serve(
                config: &$config,
                listener: TcpListener,
                ctx: ServerContext,
            ) -> Result<NatsServer, TransportError> {
                serve(config, listener, &ctx).await
            }

            async fn publisher(
                config: &$config,
                addr: &str,
                topic: &str,
                ctx: ClientContext,
            ) -> Result<JsPublisher, TransportError> {
                let (max, window) = (config.stream_max_msgs, config.publish_window);
                jetstream::publisher(config, max, window, addr, topic, ctx).await
            }

            async fn subscriber(
                config: &$config,
                addr: &str,
                topic: &str,
                ctx: ClientContext,
            ) -> Result<$sub, TransportError> {
                $connect(config, addr, topic, ctx).await
            }
        }
    };
}

jetstream_transport!(
    NatsPush,
    "nats-push",
    PushConfig,
    config::PUSH_OPTIONS,
    PushSubscriber,
    consumer::push_subscriber
);
jetstream_transport!(
    NatsPull,
    "nats-pull",
    PullConfig,
    config::PULL_OPTIONS,
    PullSubscriber,
    consumer::pull_subscriber
);
