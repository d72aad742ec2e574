//! Server-Sent Events: a subscriber holds one HTTP response open and the server streams each
//! message as an event (`text/event-stream`), as every browser's `EventSource` reads it.
//! Resumable: each event's `id:` is the message's cursor, and a reconnect sends the last one as
//! `Last-Event-ID`.
//!
//! What it costs, and what this crate lets the harness measure: one request per connection,
//! then per message the `id:`/`data:` lines, base64 growth (unless `data_encoding = "text"`)
//! and HTTP chunked framing; keep-alive comments when idle; a reconnect delay (`retry:`) after
//! a break. Publishing is long polling's (`POST`, publisher sessions): this crate reuses that
//! server and publisher instead of copying them.
//!
//! - [`server`]: the `/topics/{topic}/events` route added to the long-poll server.
//! - [`client`]: the hyper streaming subscriber, reconnecting as `EventSource` does.
//! - [`parser`]: the event-stream parser.
//! - [`config`]: the `[transport.sse]` options.

pub mod client;
pub mod config;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod parser;
pub mod server;
pub mod stream;

use tokio::net::TcpListener;
use transport_core::{
    Capabilities, ClientContext, OptionDoc, ServerContext, Transport, TransportError,
};
use transport_long_poll::{LongPollPublisher, LongPollServer};

pub use client::SseSubscriber;
pub use config::{DataEncoding, SseConfig};

/// The SSE transport, registered as `sse`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sse;

impl Transport for Sse {
    const NAME: &'static str = "sse";
    type Config = SseConfig;
    type Server = LongPollServer;
    type Publisher = LongPollPublisher;
    type Subscriber = SseSubscriber;

    fn options() -> &'static [OptionDoc] {
        config::OPTIONS
    }

    fn capabilities() -> Capabilities {
        // A subscriber reconnects with Last-Event-ID: nothing still retained is lost.
        Capabilities { resumes: true }
    }

    fn validate(config: &SseConfig) -> Result<(), String> {
        config.validate()
    }

    async fn serve(
        config: &SseConfig,
        listener: TcpListener,
        ctx: ServerContext,
    ) -> Result<LongPollServer, TransportError> {
        config.validate().map_err(TransportError::Config)?;
        server::start(config, listener, ctx)
    }

    async fn publisher(
        config: &SseConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<LongPollPublisher, TransportError> {
        config.validate().map_err(TransportError::Config)?;
        transport_long_poll::client::publisher::connect(&config.long_poll(), addr, topic, ctx).await
    }

    async fn subscriber(
        config: &SseConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<SseSubscriber, TransportError> {
        config.validate().map_err(TransportError::Config)?;
        client::connect(config, addr, topic, ctx).await
    }
}
