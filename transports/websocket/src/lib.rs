//! `websocket`: one HTTP request upgraded to a persistent, full-duplex connection per client;
//! the server pushes each message to subscribers as a binary frame.
//!
//! What this pattern costs, and what the transport counts so reports can show it:
//! - per-connection server state: a bounded send queue per subscriber, with an explicit
//!   slow-consumer policy (`disconnect` with close 1008, or `block` publishers), never a silent
//!   drop;
//! - frame overhead: the WebSocket header (2–14 bytes, plus a 4-byte mask on client frames) and
//!   this protocol's own 8-byte position header and 4-byte length per message ([`proto`]);
//! - keepalive: server pings every `ping_interval`, a missing pong closes with 1011;
//! - reconnection: subscribers resume from a bounded per-topic buffer with `from=SEQ`; a
//!   position older than the buffer is refused with close 4001 and counted as `gap_messages`;
//!   a position from another server epoch (a restarted server) resumes at the oldest message
//!   held and counts `position_resets`;
//!   publishers name a session, and after a break the server tells them how many of its
//!   messages it has, so they resend exactly the rest (`client::publisher`, `server::session`).
//!
//! Layout: [`config`] options, [`proto`] paths, frame format and close codes, `server` (accept
//! loop, [`server::topic`]-level fan-out, per-connection loops), `client` (publisher,
//! subscriber), `ws` shared WebSocket plumbing.

mod client;
pub mod config;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod proto;
mod server;
mod ws;

use tokio::net::TcpListener;
use transport_core::{
    Capabilities, ClientContext, OptionDoc, ServerContext, Transport, TransportError,
};

pub use client::{WebSocketPublisher, WebSocketSubscriber};
pub use config::{SlowConsumer, WebSocketConfig};
pub use server::WebSocketServer;

/// The WebSocket transport.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebSocket;

impl Transport for WebSocket {
    const NAME: &'static str = "websocket";
    type Config = WebSocketConfig;
    type Server = WebSocketServer;
    type Publisher = WebSocketPublisher;
    type Subscriber = WebSocketSubscriber;

    fn options() -> &'static [OptionDoc] {
        config::OPTIONS
    }

    fn capabilities() -> Capabilities {
        Capabilities { resumes: true }
    }

    fn validate(config: &WebSocketConfig) -> Result<(), String> {
        config.validate()
    }

    async fn serve(
        config: &WebSocketConfig,
        listener: TcpListener,
        ctx: ServerContext,
    ) -> Result<WebSocketServer, TransportError> {
        WebSocketServer::start(config.clone(), listener, ctx)
    }

    async fn publisher(
        config: &WebSocketConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<WebSocketPublisher, TransportError> {
        WebSocketPublisher::connect(config, addr, topic, ctx).await
    }

    async fn subscriber(
        config: &WebSocketConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<WebSocketSubscriber, TransportError> {
        WebSocketSubscriber::connect(config, addr, topic, ctx).await
    }
}
