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
//!
//! Broken connections: both clients reconnect with capped exponential backoff and full jitter
//! (`reconnect_*` options) so a run goes on after a reset, but nothing is resumed. The server
//! keeps no log and subscriptions carry no position, so a new subscription starts at the live
//! edge; messages in flight at the reset (in kernel buffers, in the server's per-subscriber
//! queue, or published while a subscriber was away) are lost, and the harness's audit reports
//! them. That is the honest floor: resuming costs a log and positions, which is what the other
//! transports pay for. The one message whose write failed is sent again on the new connection
//! when none of its bytes reached the socket; the hot path is unchanged (no copy is kept).

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
    /// First reconnect window of both clients; doubles per failure, full jitter.
    #[serde(with = "transport_core::duration")]
    pub reconnect_base: std::time::Duration,
    /// Largest reconnect window.
    #[serde(with = "transport_core::duration")]
    pub reconnect_cap: std::time::Duration,
    /// Consecutive failed attempts after which a client gives up (0: never).
    pub reconnect_max_attempts: u32,
}

impl RawTcpConfig {
    /// The clients' reconnect backoff.
    pub fn backoff(&self) -> transport_core::BackoffConfig {
        transport_core::BackoffConfig {
            base: self.reconnect_base,
            cap: self.reconnect_cap,
            max_attempts: self.reconnect_max_attempts,
        }
    }
}

impl Default for RawTcpConfig {
    fn default() -> Self {
        RawTcpConfig {
            max_frame_bytes: 16 * 1024 * 1024 + 1024,
            queue_capacity: 1024,
            reconnect_base: transport_core::backoff::DEFAULT_BASE,
            reconnect_cap: transport_core::backoff::DEFAULT_CAP,
            reconnect_max_attempts: transport_core::backoff::DEFAULT_MAX_ATTEMPTS,
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
    OptionDoc {
        key: "reconnect_base",
        default: "\"10ms\"",
        help: "first reconnect window after a broken connection; doubles per failure, full jitter (uniform in 0..window); no resume: messages in flight are lost",
    },
    OptionDoc {
        key: "reconnect_cap",
        default: "\"1s\"",
        help: "largest reconnect window",
    },
    OptionDoc {
        key: "reconnect_max_attempts",
        default: "25",
        help: "consecutive failed reconnects before a client gives up (0 = never)",
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
        config.backoff().validate("reconnect_")
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
