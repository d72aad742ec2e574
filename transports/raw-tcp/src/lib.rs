//! `raw-tcp`: length-prefixed frames over one TCP connection per client, fanned out by the
//! server to every subscriber of a topic. No HTTP, no WebSocket framing, no per-message headers:
//! this is the physical floor every other transport is compared with, and it runs in every
//! comparison. It still resumes after broken connections like the others (a bounded in-memory
//! log per topic and publisher sessions), because a floor that loses messages at a reset would
//! not be a fair comparison in the faults scenarios.
//!
//! Wire format: every frame is a 4-byte big-endian length followed by that many bytes. A
//! connection opens with a hello and its reply (see `proto` for the bytes; that handshake is
//! counted apart), then every frame is one message: publisher → server, then server → each
//! subscriber. So each message costs exactly 4 bytes of framing per hop, which the
//! wire-accounting test checks to the byte.
//!
//! Both hops batch writes, never bytes: the publisher queues frames for a writer task that
//! writes everything queued since its last write at once, the server relays the frames it has
//! already read under one topic lock, and each subscriber's writer takes every queued message
//! (up to 1024) into one write. At low rates that is one frame per write, so latency is the
//! socket's; under load it is what lets the floor reach the loopback ceiling, as the batching
//! transports do.
//!
//! Broken connections lose nothing, at almost no steady-state cost. Positions are implicit: the
//! server numbers each topic's messages in arrival order and keeps the most recent
//! `retain_bytes` of them; a subscriber counts the frames it received, and after a break it
//! reconnects (capped exponential backoff, full jitter) and asks for the next position, getting
//! the retained backlog before live messages (0 bytes per message). A publisher has a session id
//! and keeps every message the server has not confirmed: every `sync_every_messages` or
//! `sync_interval` (or when half of `resend_buffer_bytes` is unconfirmed) it sends an empty frame
//! and the server answers with the session's relay count (16 bytes per sync, 0.06 B/msg at the
//! defaults and 1K msg/s); if `resend_buffer_bytes` is full it waits for that answer, so nothing
//! falls out unconfirmed. After a reconnect the server says how many of the session's messages it
//! relayed and the publisher resends the rest. `flush` waits for a sync, so a run's last messages
//! are confirmed, not just written into a socket that may already be dead. The server's reply
//! carries a random epoch: a subscriber that comes back to a restarted server starts from what
//! the new incarnation retained, and a publisher resends everything the old one had not confirmed
//! (what it had relayed arrives twice; the harness counts duplicates). What cannot be recovered
//! (a subscriber away longer than the retention, or messages a restarted server took down with
//! it) is counted (`resume_skipped`, `epoch_resets`, `publisher_epoch_resets`) and the harness's
//! audit reports the missing messages as lost. The other counters: `publisher_resent` (messages
//! sent again after a reconnect), `publisher_session_resets` (a server that forgot the session),
//! `publisher_window_waits` (a full `resend_buffer_bytes` held publishing), and on the server
//! `server_resume_skipped`, `server_epoch_resets`, `server_protocol_errors`.
//!
//! A subscriber that reads slower than its topic is published has `queue_capacity` messages
//! queued for it on the server; then `slow_consumer` decides: `block` (publishers wait, counted
//! in `server_publish_blocked_ns`) or `disconnect` (the server closes it, counted in
//! `server_slow_consumer_disconnects`, and it resumes from the log). The server's gauges
//! `server_queued_messages` / `server_queued_bytes` and `server_retained_messages` /
//! `server_retained_bytes` show what waits in the queues and what the logs keep (README.md).

mod client;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod log;
mod proto;
mod server;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use transport_core::{
    Capabilities, ClientContext, OptionDoc, ServerContext, Transport, TransportError,
};

pub use client::{RawTcpPublisher, RawTcpSubscriber};
pub use server::RawTcpServer;

/// The raw-TCP transport.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawTcp;

/// What the server does when a subscriber's queue (`queue_capacity` messages) is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlowConsumer {
    /// Publishers of the topic wait until the subscriber's queue has room: backpressure, never
    /// a drop. One slow subscriber slows every publisher of its topic, and through them every
    /// other subscriber.
    #[default]
    Block,
    /// The server closes the subscriber's connection and drops its queue. The subscriber
    /// reconnects and resumes from the topic's retained log; what the log no longer holds is
    /// counted (`server_resume_skipped`) and reported lost by the audit.
    Disconnect,
}

/// Options of `[transport.raw-tcp]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTcpConfig {
    /// Largest frame either side accepts; bigger frames close the connection.
    pub max_frame_bytes: usize,
    /// Messages the server queues per subscriber before `slow_consumer` applies.
    pub queue_capacity: usize,
    /// What a full subscriber queue does: make publishers wait, or disconnect the subscriber.
    pub slow_consumer: SlowConsumer,
    /// Bytes of recent messages the server keeps per topic for subscribers that resume.
    pub retain_bytes: usize,
    /// Bytes of unconfirmed messages a publisher keeps to resend after a broken connection;
    /// publishing waits for a confirmation when it is full.
    pub resend_buffer_bytes: usize,
    /// A publisher asks the server for its relay count after this many messages...
    pub sync_every_messages: u32,
    /// ...or when this much time passed since it last asked, whichever comes first.
    #[serde(with = "transport_core::duration")]
    pub sync_interval: std::time::Duration,
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
            slow_consumer: SlowConsumer::Block,
            retain_bytes: 64 * 1024 * 1024,
            resend_buffer_bytes: 8 * 1024 * 1024,
            sync_every_messages: 256,
            sync_interval: std::time::Duration::from_secs(1),
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
        help: "messages queued per subscriber before `slow_consumer` applies (> 0)",
    },
    OptionDoc {
        key: "slow_consumer",
        default: "\"block\"",
        help: "full subscriber queue: \"block\" (publishers of the topic wait) or \"disconnect\" (the server closes the subscriber, which reconnects and resumes from the retained log; loss past it is counted)",
    },
    OptionDoc {
        key: "retain_bytes",
        default: "67108864",
        help: "bytes of recent messages the server keeps per topic (plus 32 per message) so a subscriber resumes after a broken connection (> 0)",
    },
    OptionDoc {
        key: "resend_buffer_bytes",
        default: "8388608",
        help: "bytes of unconfirmed messages a publisher keeps to resend after a broken connection; when full, publishing waits for the server's confirmation (> 0)",
    },
    OptionDoc {
        key: "sync_every_messages",
        default: "256",
        help: "a publisher asks for the server's relay count (an empty frame, 4 B, answered with 12 B) after this many messages (> 0), so it can forget what arrived and resend only the rest",
    },
    OptionDoc {
        key: "sync_interval",
        default: "\"1s\"",
        help: "...or at the first message after this long without asking (> 0)",
    },
    OptionDoc {
        key: "reconnect_base",
        default: "\"10ms\"",
        help: "first reconnect window after a broken connection; doubles per failure, full jitter (uniform in 0..window)",
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

    fn capabilities() -> Capabilities {
        Capabilities { resumes: true }
    }

    fn validate(config: &RawTcpConfig) -> Result<(), String> {
        if config.max_frame_bytes == 0 {
            return Err("max_frame_bytes must be > 0".into());
        }
        if config.queue_capacity == 0 {
            return Err("queue_capacity must be > 0".into());
        }
        if config.retain_bytes == 0 {
            return Err("retain_bytes must be > 0".into());
        }
        if config.resend_buffer_bytes == 0 {
            return Err("resend_buffer_bytes must be > 0".into());
        }
        if config.sync_every_messages == 0 {
            return Err("sync_every_messages must be > 0".into());
        }
        if config.sync_interval.is_zero() {
            return Err("sync_interval must be > 0".into());
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
