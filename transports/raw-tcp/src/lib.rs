//! `raw-tcp`: length-prefixed frames over one TCP connection per client, fanned out by the
//! server to every subscriber of a topic. No HTTP, no WebSocket framing, no log: this is the
//! physical floor every other transport is compared with, and it runs in every comparison.
//!
//! Wire format (all frames are a 4-byte big-endian length followed by that many bytes):
//! - client → server, first frame: role (`P` publisher or `S` subscriber) then the topic name;
//! - server → client: a one-byte `0x00` frame confirming the role (the handshake ends here);
//! - afterwards every frame is one message: publisher → server, then server → each subscriber.
//!
//! So each message costs exactly 4 bytes of framing per hop, which the wire-accounting test
//! checks to the byte.

mod client;
mod proto;
mod server;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use transport_core::{ClientContext, OptionDoc, ServerContext, Transport, TransportError};

pub use client::{RawTcpPublisher, RawTcpSubscriber};
pub use server::RawTcpServer;

/// The raw-TCP transport.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawTcp;

/// Options of `[transport.raw-tcp]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTcpConfig {
    /// Largest frame either side accepts; bigger frames close the connection.
    pub max_frame_bytes: usize,
    /// Messages the server queues per subscriber before the publisher waits (backpressure,
    /// never a drop).
    pub queue_capacity: usize,
}

impl Default for RawTcpConfig {
    fn default() -> Self {
        RawTcpConfig {
            max_frame_bytes: 16 * 1024 * 1024 + 1024,
            queue_capacity: 1024,
        }
    }
}

const OPTIONS: &[OptionDoc] = &[
    OptionDoc {
        key: "max_frame_bytes",
        default: "16778240",
        help: "largest frame accepted (bytes, > 0); a bigger one closes the connection",
    },
    OptionDoc {
        key: "queue_capacity",
        default: "1024",
        help: "messages queued per subscriber before publishers wait (> 0)",
    },
];

impl Transport for RawTcp {
    const NAME: &'static str = "raw-tcp";
    type Config = RawTcpConfig;
    type Server = RawTcpServer;
    type Publisher = RawTcpPublisher;
    type Subscriber = RawTcpSubscriber;

    fn options() -> &'static [OptionDoc] {
        OPTIONS
    }

    fn validate(config: &RawTcpConfig) -> Result<(), String> {
        if config.max_frame_bytes == 0 {
            return Err("max_frame_bytes must be > 0".into());
        }
        if config.queue_capacity == 0 {
            return Err("queue_capacity must be > 0".into());
        }
        Ok(())
    }

    async fn serve(
        config: &RawTcpConfig,
        listener: TcpListener,
        ctx: ServerContext,
    ) -> Result<RawTcpServer, TransportError> {
        RawTcpServer::start(config.clone(), listener, ctx)
    }

    async fn publisher(
        config: &RawTcpConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<RawTcpPublisher, TransportError> {
        RawTcpPublisher::connect(config, addr, topic, ctx).await
    }

    async fn subscriber(
        config: &RawTcpConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<RawTcpSubscriber, TransportError> {
        RawTcpSubscriber::connect(config, addr, topic, ctx).await
    }
}
