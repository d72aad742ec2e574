//! One NATS connection for one harness client, and the subject and stream names a topic maps
//! to. async-nats opens its sockets itself and takes no stream, so `CountingIo` cannot wrap
//! them: each client's connection is found among this process's connections to the server
//! right after it connects (first connections are made one at a time, so the newest is the
//! client's) and again after each reconnect, and its bytes are the kernel's own counters
//! ([`transport_program::SocketTally`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use async_nats::{ConnectErrorKind, ConnectOptions, Event};
use tokio::sync::Mutex;
use transport_core::{ClientContext, Counter, TransportError};
use transport_program::SocketTally;

use crate::config::ServerOptions;

/// Bound on one connection attempt (TCP, INFO, CONNECT, PONG).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Held while a client makes its first connection, so that the newest connection to the
/// server is the one being made (reconnects, in the background, may still interleave).
static FIRST_CONNECT: Mutex<()> = Mutex::const_new(());

/// A connected client and the tally of its connection's bytes.
#[derive(Debug, Clone)]
pub struct Conn {
    /// The async-nats client (cheap to clone; one connection).
    pub client: async_nats::Client,
    /// The connection's kernel-counted bytes.
    pub tally: Arc<SocketTally>,
    /// Set when the harness closes the client: connection events after that (a helper task
    /// of async-nats outliving the client sees the server stop) are not the run's.
    closing: Arc<AtomicBool>,
}

impl Conn {
    /// Brings the byte counts up to date for the last time and stops counting events.
    pub fn finish(&self) {
        self.closing.store(true, Relaxed);
        transport_core::WireProbe::refresh(&*self.tally);
    }
}

/// The subject a topic is published on: `tb.` and the topic with anything a subject token may
/// not hold (`.`, `*`, `>`, whitespace) replaced by `_`.
pub fn subject(topic: &str) -> String {
    format!("tb.{}", token(topic))
}

/// The JetStream stream that holds a topic's subject.
pub fn stream_name(topic: &str) -> String {
    format!("TB_{}", token(topic))
}

/// A durable consumer name for subscriber `index` of `topic`.
pub fn consumer_name(topic: &str, index: u32) -> String {
    format!("tb_{}_{index}", token(topic))
}

fn token(topic: &str) -> String {
    topic
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            _ => '_',
        })
        .collect()
}

/// The server's address as a socket address (the first IPv4 one a name resolves to).
async fn peer(addr: &str) -> Result<SocketAddr, TransportError> {
    tokio::net::lookup_host(addr)
        .await
        .map_err(TransportError::io("resolve"))?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| {
            TransportError::io("resolve")(std::io::Error::new(
                std::io::ErrorKind::AddrNotAvailable,
                format!("{addr} has no IPv4 address"),
            ))
        })
}

/// What the client library cannot do that a context asks for: its sockets are its own.
fn refuse_unsupported(ctx: &ClientContext) -> Result<(), TransportError> {
    if !ctx.socket.nodelay {
        return Err(TransportError::Config(
            "the NATS transports cannot turn TCP_NODELAY off: async-nats always sets it".into(),
        ));
    }
    if ctx.gate.is_some() {
        return Err(TransportError::Config(
            "the NATS transports cannot slow a consumer's reads: async-nats owns its socket".into(),
        ));
    }
    Ok(())
}

/// Connects `name` (`pub-3`, `sub-0`) to the server at `addr` from this client's source
/// address, counting its connection's bytes into the context's wire stats as handshake until
/// the caller ends it.
pub async fn connect(
    options: &impl ServerOptions,
    addr: &str,
    name: &str,
    ctx: &ClientContext,
) -> Result<Conn, TransportError> {
    refuse_unsupported(ctx)?;
    let peer = peer(addr).await?;
    let tally = SocketTally::register(ctx.wire.clone(), peer);
    let closing = Arc::new(AtomicBool::new(false));
    let mut opts = connect_options(options, name, &tally, &closing, ctx);
    if let Some(ip) = ctx.source {
        opts = opts.local_address(SocketAddr::new(ip, 0));
    }
    let _one_at_a_time = FIRST_CONNECT.lock().await;
    let client = opts
        .connect(format!("nats://{peer}"))
        .await
        .map_err(connect_error)?;
    if tally.claim().is_none() {
        let why = tally
            .failure()
            .unwrap_or_else(|| format!("no connection of ours to {peer} was found"));
        return Err(TransportError::Io {
            stage: "count wire bytes",
            source: std::io::Error::other(why),
        });
    }
    Ok(Conn {
        client,
        tally,
        closing,
    })
}

fn connect_error(e: async_nats::ConnectError) -> TransportError {
    match e.kind() {
        ConnectErrorKind::TimedOut => TransportError::Timeout {
            stage: "connect",
            after_ms: CONNECT_TIMEOUT.as_millis() as u64,
        },
        _ => TransportError::Io {
            stage: "connect",
            source: std::io::Error::other(e.to_string()),
        },
    }
}

/// The client's options: our local address, one server (no discovered ones), a bounded
/// number of reconnects, and its connection events counted.
fn connect_options(
    options: &impl ServerOptions,
    name: &str,
    tally: &Arc<SocketTally>,
    closing: &Arc<AtomicBool>,
    ctx: &ClientContext,
) -> ConnectOptions {
    let disconnects = ctx.counters.counter("nats_disconnects");
    let connects = ctx.counters.counter("nats_connects");
    let slow = ctx.counters.counter("nats_slow_consumer_events");
    let max = match options.max_reconnects() {
        0 => None,
        n => Some(n),
    };
    let tally = Arc::downgrade(tally);
    let closing = closing.clone();
    ConnectOptions::new()
        .name(name)
        .connection_timeout(CONNECT_TIMEOUT)
        .ignore_discovered_servers()
        .max_reconnects(max)
        .reconnect_delay_callback(reconnect_delay)
        .event_callback(move |event| {
            if !closing.load(Relaxed) {
                count_event(&event, &disconnects, &connects, &slow);
                if let (Event::Connected, Some(tally)) = (&event, tally.upgrade()) {
                    // A reconnect: the client's connection is a new socket.
                    tally.claim();
                }
            }
            async {}
        })
}

/// 0 ms for the first retry, then doubling from 10 ms to a 1 s cap: a cut connection to a
/// live server comes back at once; a dead one is not hammered.
fn reconnect_delay(attempt: usize) -> Duration {
    match attempt {
        0 | 1 => Duration::ZERO,
        n => Duration::from_millis(10u64 << (n - 2).min(7)).min(Duration::from_secs(1)),
    }
}

fn count_event(event: &Event, disconnects: &Counter, connects: &Counter, slow: &Counter) {
    match event {
        Event::Disconnected => disconnects.inc(),
        Event::Connected => connects.inc(),
        Event::SlowConsumer(_) => slow.inc(),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_become_valid_tokens() {
        assert_eq!(subject("t.0 *>"), "tb.t_0___");
        assert_eq!(stream_name("topic-1"), "TB_topic-1");
        assert_eq!(consumer_name("a.b", 7), "tb_a_b_7");
    }

    #[test]
    fn reconnects_back_off_to_a_cap() {
        assert_eq!(reconnect_delay(1), Duration::ZERO);
        assert_eq!(reconnect_delay(2), Duration::from_millis(10));
        assert_eq!(reconnect_delay(30), Duration::from_secs(1));
    }
}
