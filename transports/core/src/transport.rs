//! The [`Transport`] trait: a server half and two client halves that hide whether messages are
//! pushed, fetched by a held poll, or fetched from a log.
//!
//! The contract that makes measurements comparable:
//! - [`Transport::subscriber`] resolves only once the subscription is live at the server, so
//!   every message published afterwards will reach it. The runner relies on this instead of
//!   sleeping before it starts the clock.
//! - [`Subscriber::recv`] returns the messages of exactly one *delivery unit* (one HTTP
//!   response, one WebSocket frame, one fetch response, one socket read), possibly none (an empty
//!   poll or fetch). The harness histograms messages per unit from that.
//! - Messages are opaque bytes and are delivered unchanged. A transport that recovers from a
//!   broken connection resumes where it can; anything it cannot recover shows up as missing
//!   sequence numbers in the harness's audit, never as an error it hides.
//! - Every socket goes through [`crate::CountingIo`] with the context's stats, and gets
//!   [`crate::SocketOptions::apply`].

use std::fmt::Debug;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::{TcpListener, TcpStream};

use crate::backoff::ReconnectPolicy;
use crate::tls::{TlsClient, TlsServer};
use crate::{
    Backoff, BackoffConfig, Conn, Counters, CountingIo, ReadGate, SharedConns, SocketOptions,
    TransportError, WireStats,
};

/// What the server side of a run shares: its wire stats, counters and socket options.
#[derive(Debug, Clone)]
pub struct ServerContext {
    /// Byte counts for every server-side socket.
    pub wire: Arc<WireStats>,
    /// Pattern-specific counters (prefix server-side names with `server_`).
    pub counters: Arc<Counters>,
    /// Options to apply to every accepted socket.
    pub socket: SocketOptions,
    /// TLS over every accepted socket (`None`: plaintext).
    pub tls: Option<TlsServer>,
}

/// Counter of TCP connection attempts by gated subscribers ([`ClientContext::connect`]).
pub const CONNECT_ATTEMPTS: &str = "subscriber_connect_attempts";
/// Counter of those attempts that failed (refused, unreachable, timed out).
pub const CONNECT_FAILURES: &str = "subscriber_connect_failures";
/// Counter of TCP connection attempts by gated publishers (a run with faults).
pub const PUBLISHER_CONNECT_ATTEMPTS: &str = "publisher_connect_attempts";
/// Counter of those attempts that failed.
pub const PUBLISHER_CONNECT_FAILURES: &str = "publisher_connect_failures";

/// What one client (publisher or subscriber) shares with the rest of the run.
#[derive(Debug, Clone)]
pub struct ClientContext {
    /// Byte counts for every client-side socket.
    pub wire: Arc<WireStats>,
    /// Pattern-specific counters.
    pub counters: Arc<Counters>,
    /// Options to apply to every connected socket.
    pub socket: SocketOptions,
    /// This client's index among clients of its kind (for client ids, group member names).
    pub client_index: u32,
    /// The local address to connect from (`None`: the kernel's choice). The runner spreads
    /// very many clients over several loopback sources so no source runs out of ports.
    pub source: Option<IpAddr>,
    /// For a subscriber of a consumer class that falls behind: the gate its socket reads go
    /// through (`None`: it reads as fast as it can). Applied by [`ClientContext::counted`].
    pub gate: Option<Arc<ReadGate>>,
    /// How the client waits between reconnect attempts (the scenario's `reconnect`).
    pub reconnect: ReconnectPolicy,
    /// TLS over every connected socket (`None`: plaintext). Applied by [`ClientContext::open`].
    pub tls: Option<TlsClient>,
    /// Connections this client may share with the other clients of its run (HTTP/2 streams of
    /// several subscribers on one connection); each client alone unless the runner shares it.
    pub shared: SharedConns,
}

impl ServerContext {
    /// A context with fresh stats and counters and default socket options.
    pub fn fresh() -> Self {
        ServerContext {
            wire: WireStats::new(),
            counters: Counters::new(),
            socket: SocketOptions::default(),
            tls: None,
        }
    }
}

impl ClientContext {
    /// A context with fresh stats and counters and default socket options.
    pub fn fresh(client_index: u32) -> Self {
        ClientContext {
            wire: WireStats::new(),
            counters: Counters::new(),
            socket: SocketOptions::default(),
            client_index,
            source: None,
            gate: None,
            reconnect: ReconnectPolicy::default(),
            tls: None,
            shared: SharedConns::default(),
        }
    }

    /// Connects to `addr` ([`ClientContext::connect`]), counts the socket
    /// ([`ClientContext::counted`], handshake first) and, when the run has TLS, runs its
    /// handshake on top: the one way a transport's client opens a connection.
    pub async fn open(&self, addr: &str) -> Result<Conn, TransportError> {
        let io = self.counted(self.connect(addr).await?);
        match &self.tls {
            None => Ok(Conn::plain(io)),
            Some(tls) => Conn::connect_tls(io, tls, addr).await,
        }
    }

    /// A reconnect backoff with `config`, under this client's policy.
    pub fn backoff(&self, config: BackoffConfig) -> Backoff {
        Backoff::new(config).with_policy(self.reconnect)
    }

    /// Connects to `addr` from this client's source address, with its socket options. A
    /// consumer that is offline (its class says so) waits until it may come back.
    pub async fn connect(&self, addr: &str) -> Result<TcpStream, TransportError> {
        let Some(gate) = &self.gate else {
            return self.socket.connect_from(addr, self.source).await;
        };
        gate.online().await;
        // A gated client belongs to a run that watches its connections (classes, faults):
        // its attempts and failures are what a reconnect storm costs.
        let (attempts, failures) = if gate.is_publisher() {
            (PUBLISHER_CONNECT_ATTEMPTS, PUBLISHER_CONNECT_FAILURES)
        } else {
            (CONNECT_ATTEMPTS, CONNECT_FAILURES)
        };
        self.counters.counter(attempts).inc();
        let connected = self
            .socket
            .connect_with(addr, self.source, gate.recv_buffer())
            .await;
        if connected.is_err() {
            self.counters.counter(failures).inc();
        }
        connected
    }

    /// Wraps a connected stream for counting, handshake first, through this client's read
    /// gate if it has one: every client socket of a transport is made this way.
    pub fn counted<S>(&self, stream: S) -> CountingIo<S> {
        CountingIo::with_handshake(stream, self.wire.clone()).gated(self.gate.clone())
    }
}

/// One option of a transport's `[transport.<name>]` table, for `transport-bench list`.
#[derive(Debug, Clone, Copy)]
pub struct OptionDoc {
    /// The TOML key.
    pub key: &'static str,
    /// The default, as it would be written in TOML.
    pub default: &'static str,
    /// What it does, and its allowed values.
    pub help: &'static str,
}

/// What a transport can do beyond plain delivery, so the conformance kit knows what to check.
#[derive(Debug, Clone, Copy, Default)]
pub struct Capabilities {
    /// A subscriber whose connection breaks reconnects and resumes without loss. When false,
    /// the transport is at-most-once: a subscriber reconnects and misses what was published
    /// while it was away, which the harness's audit counts as lost.
    pub resumes: bool,
}

impl Capabilities {
    /// The delivery guarantee across a reconnect, in words (`list` prints it).
    pub fn guarantee(&self) -> &'static str {
        if self.resumes {
            "a reconnecting subscriber resumes where it left off (nothing lost)"
        } else {
            "at-most-once: a reconnecting subscriber misses what was published while it was \
             away (counted as lost)"
        }
    }
}

/// A way the runner can have a transport's server (DESIGN "one seam for the server").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerKind {
    /// [`Transport::serve`] on the load generator's own runtime.
    InProcess,
    /// `transport-bench serve` as a child process, read through its metrics endpoint.
    Child,
    /// A program we did not write (nginx, nats-server), started by [`Transport::serve`] as a
    /// managed process group: its processes are [`ServerHandle::program_pids`].
    Program,
    /// A server someone else runs, reached by address.
    Remote,
}

/// The kinds a transport whose server is our own code supports.
pub const OWN_SERVER_KINDS: &[ServerKind] =
    &[ServerKind::InProcess, ServerKind::Child, ServerKind::Remote];

/// A running server. Dropping it without [`ServerHandle::shutdown`] must not leak tasks forever,
/// but only `shutdown` promises prompt release of parked requests and a bounded wait.
pub trait ServerHandle: Send + 'static {
    /// The address it accepted connections on.
    fn local_addr(&self) -> SocketAddr;
    /// Stops accepting, closes connections (releasing parked polls and fetches), and waits for
    /// the server's tasks to finish.
    fn shutdown(self) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Before a graceful stop (`SIGTERM`): lets clients take what the server still holds for
    /// them, so a stop loses nothing. Returns once it has (bounded); most servers hold nothing
    /// a stop would lose, and return at once.
    fn drain(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// For a server that is a program we did not write ([`ServerKind::Program`]): every live
    /// process of it, whose `/proc` figures are the server's. `None` for our own servers.
    fn program_pids(&self) -> Option<Vec<u32>> {
        None
    }
}

/// The sending half of a client.
pub trait Publisher: Send + 'static {
    /// Hands one message to the transport for `topic` (fixed at creation). Returns once the
    /// transport accepted it: written, or queued within its own bounded window. It must not wait
    /// for delivery to subscribers.
    fn publish(&mut self, msg: Bytes) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Hands `msgs` to the transport in order, exactly as one `publish` per message would, and
    /// adds one to `accepted` per message accepted (so a caller stopped by an error knows how
    /// far it got). The default does just that; a transport that can take a batch with one
    /// lock and one write overrides it. The harness's closed loop publishes this way, so what
    /// it measures is the transport, not a per-message hand-over.
    fn publish_batch(
        &mut self,
        msgs: &[Bytes],
        accepted: &mut usize,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        async move {
            for m in msgs {
                self.publish(m.clone()).await?;
                *accepted += 1;
            }
            Ok(())
        }
    }
    /// Waits until every accepted message is written and, where the pattern acknowledges,
    /// acknowledged.
    fn flush(&mut self) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Flushes and closes the connection cleanly.
    fn close(self) -> impl Future<Output = Result<(), TransportError>> + Send;
}

/// The receiving half of a client.
pub trait Subscriber: Send + 'static {
    /// Waits for the next delivery unit and appends its messages to `out`, returning how many it
    /// appended (0 for an empty unit, such as a poll that timed out). Errors are unrecoverable
    /// for this subscriber. Need not be cancel-safe: the harness only cancels it when done.
    fn recv(
        &mut self,
        out: &mut Vec<Bytes>,
    ) -> impl Future<Output = Result<usize, TransportError>> + Send;
    /// When the unit the last `recv` returned was received ([`crate::clock`] ns), for a
    /// subscriber that stamps receive times itself and hands units over later (a browser page
    /// reporting in batches). `None`, the default, means "as `recv` returns", read by the caller.
    fn received_at_ns(&self) -> Option<u64> {
        None
    }
    /// Closes the subscription cleanly.
    fn close(self) -> impl Future<Output = Result<(), TransportError>> + Send;
}

/// One delivery pattern, registered in the harness by name.
pub trait Transport: Send + Sync + 'static {
    /// The registered name (`raw-tcp`, `long-poll`, `websocket`, `pull-log`).
    const NAME: &'static str;
    /// Options from the scenario's `[transport.<name>]` table; unknown keys must be rejected
    /// (`#[serde(deny_unknown_fields)]`), and the default must be a sensible deployment.
    type Config: Serialize + DeserializeOwned + Default + Clone + Debug + Send + Sync + 'static;
    /// The running server.
    type Server: ServerHandle;
    /// The sending client.
    type Publisher: Publisher;
    /// The receiving client.
    type Subscriber: Subscriber;

    /// Documentation of every option, for `list`.
    fn options() -> &'static [OptionDoc];

    /// What the transport promises beyond plain delivery.
    fn capabilities() -> Capabilities {
        Capabilities::default()
    }

    /// What a subscriber keeps across a broken connection, in words, for `list`. The default
    /// follows [`Capabilities::resumes`]; a transport whose promise depends on its options
    /// (MQTT's QoS and session) says so.
    fn guarantee() -> &'static str {
        Self::capabilities().guarantee()
    }

    /// The ways the runner may have this transport's server. Our own servers run in-process,
    /// as a child `serve`, or remote; a program we did not write (nginx) only as
    /// [`ServerKind::Program`] or remote, and its sockets are not ours to count.
    fn server_kinds() -> &'static [ServerKind] {
        OWN_SERVER_KINDS
    }

    /// Checks, before any run starts, that this machine has what [`Transport::serve`] needs
    /// beyond this binary (a program we did not write and its modules). The error
    /// ([`TransportError::MissingProgram`]) names what to install.
    fn preflight(config: &Self::Config) -> Result<(), TransportError> {
        let _ = config;
        Ok(())
    }

    /// Checks option combinations serde cannot (ranges, conflicts). The message names the option.
    fn validate(config: &Self::Config) -> Result<(), String> {
        let _ = config;
        Ok(())
    }

    /// If the options point at an external server (for example a real Kafka cluster), its
    /// address; the runner then starts no server of its own.
    fn external_address(config: &Self::Config) -> Option<String> {
        let _ = config;
        None
    }

    /// Starts the server on an already bound listener and returns once it accepts connections.
    fn serve(
        config: &Self::Config,
        listener: TcpListener,
        ctx: ServerContext,
    ) -> impl Future<Output = Result<Self::Server, TransportError>> + Send;

    /// Connects a publisher for `topic` to the server at `addr` (`host:port`).
    fn publisher(
        config: &Self::Config,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> impl Future<Output = Result<Self::Publisher, TransportError>> + Send;

    /// Connects a subscriber for `topic` and returns once the subscription is live.
    fn subscriber(
        config: &Self::Config,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> impl Future<Output = Result<Self::Subscriber, TransportError>> + Send;
}
