//! The seam between the harness and the transports it measures.
//!
//! Long polling, WebSockets, Server-Sent Events and a Kafka-style pull log look nothing alike on
//! the wire: one holds an HTTP request open, one pushes frames, one streams events down one held
//! response, one answers fetches. To the harness they all do the same job: a publisher hands
//! over opaque messages, and a subscriber receives them in *delivery units* (an HTTP response, a
//! WebSocket frame, an event, a fetch response, a socket read). So one
//! [`Transport`] trait covers push, held poll and fetch: the pattern lives entirely inside the
//! transport, while the harness owns time, payloads, schedules and accounting.
//!
//! The crate also holds what every transport shares: the message [`envelope`] the harness stamps,
//! the byte-counting IO wrapper ([`wire`]) every socket goes through, named [`counters`] for
//! pattern-specific events, the [`occupancy`] gauges of queues and logs, the bytes waiting in the
//! kernel's send queues of a server's connections ([`sendq`]), socket options, the [`accept`]
//! loop every server shares, the reconnect [`backoff`] every client uses, the server-side table
//! of publisher [`session`]s that lets a reconnecting publisher resend exactly what never
//! arrived, [`tls`] set up once for every transport with the [`conn`] type that carries it, and
//! a [`conformance`] kit each transport runs, and the table of [`shared`] connections that
//! lets the clients of a run multiplex over one (HTTP/2).

pub mod accept;
pub mod backoff;
pub mod clock;
pub mod conformance;
pub mod conn;
pub mod counters;
pub mod drain;
pub mod duration;
pub mod envelope;
pub mod error;
pub mod gate;
pub mod occupancy;
pub mod publish_queue;
pub mod sendq;
pub mod session;
pub mod shared;
pub mod socket;
pub mod test_knobs;
pub mod tls;
pub mod transport;
pub mod wire;

pub use accept::Acceptor;
pub use backoff::{Backoff, BackoffConfig, ReconnectPolicy};
pub use conn::{Conn, ConnRead, ConnWrite};
pub use counters::{Counter, Counters, Distribution, Gauge, GaugeReading};
pub use drain::Drain;
pub use envelope::Envelope;
pub use error::TransportError;
pub use gate::{GateBehaviour, ReadGate};
pub use shared::SharedConns;
pub use socket::SocketOptions;
pub use transport::{
    Capabilities, ClientContext, OWN_SERVER_KINDS, OptionDoc, Publisher, ServerContext,
    ServerHandle, ServerKind, Subscriber, Transport,
};
pub use wire::{CountingIo, HandshakeFlag, WireProbe, WireSnapshot, WireStats};
