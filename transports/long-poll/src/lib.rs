//! Long polling: a subscriber asks "anything new after cursor N?" and the server holds the
//! request until messages arrive or the hold time passes; the client asks again at once.
//!
//! What it costs, and what this crate lets the harness measure: a full HTTP request and
//! response per delivery (header bytes counted on the client, every byte counted on both sides),
//! the gap between a reply and the next poll, empty replies at every hold timeout
//! (`empty_polls`), and implicit batching of whatever arrived in between
//! (`messages_per_response`).
//!
//! - [`server`]: axum, per-topic bounded buffers ([`store`]), parked polls woken by publishes,
//!   publisher sessions so a retried POST is stored once ([`server::session`]).
//! - [`client`]: hyper HTTP/1.1 with keep-alive or a connection per poll, or HTTP/2 with the
//!   polls of many subscribers multiplexed over one connection; a minimal or browser header
//!   profile, binary or JSON bodies ([`codec`]).
//! - [`config`]: the `[transport.long-poll]` options.
//! - [`epoch`]: the server's random incarnation id, which lets a subscriber tell a restarted
//!   server from the one its cursor came from.

pub mod client;
pub mod codec;
pub mod config;
pub mod epoch;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod server;
pub mod store;

use tokio::net::TcpListener;
use transport_core::{
    Capabilities, ClientContext, OptionDoc, ServerContext, Transport, TransportError,
};

pub use client::publisher::LongPollPublisher;
pub use client::subscriber::LongPollSubscriber;
pub use config::{
    ConnectionMode, Encoding, EpochCheck, HeaderProfile, HttpVersion, LongPollConfig,
};
pub use server::LongPollServer;

/// The long-poll transport, registered as `long-poll`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LongPoll;

impl Transport for LongPoll {
    const NAME: &'static str = "long-poll";
    type Config = LongPollConfig;
    type Server = LongPollServer;
    type Publisher = LongPollPublisher;
    type Subscriber = LongPollSubscriber;

    fn options() -> &'static [OptionDoc] {
        config::OPTIONS
    }

    fn capabilities() -> Capabilities {
        // A subscriber re-polls from its cursor after a broken connection, so nothing the
        // server still retains is lost.
        Capabilities { resumes: true }
    }

    fn validate(config: &LongPollConfig) -> Result<(), String> {
        config.validate()
    }

    async fn serve(
        config: &LongPollConfig,
        listener: TcpListener,
        ctx: ServerContext,
    ) -> Result<LongPollServer, TransportError> {
        config.validate().map_err(TransportError::Config)?;
        server::start(config, listener, ctx)
    }

    async fn publisher(
        config: &LongPollConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<LongPollPublisher, TransportError> {
        config.validate().map_err(TransportError::Config)?;
        client::publisher::connect(config, addr, topic, ctx).await
    }

    async fn subscriber(
        config: &LongPollConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<LongPollSubscriber, TransportError> {
        config.validate().map_err(TransportError::Config)?;
        client::subscriber::connect(config, addr, topic, ctx).await
    }
}
