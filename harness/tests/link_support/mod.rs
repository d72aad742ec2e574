//! Helpers the link emulator's test binaries share: an echo server, a link shape, a bound.

#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use transport_bench::link::LinkConfig;

/// Bound on every awaited step.
pub const BOUND: Duration = Duration::from_secs(20);

/// Awaits `f` for at most [`BOUND`], panicking with `what` otherwise.
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(BOUND, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

/// An echo server on a fresh port.
pub async fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = s.set_nodelay(true);
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// A link of `rtt_ms` round trip, `jitter_ms` jitter and `bits` per second.
pub fn link(rtt_ms: u64, jitter_ms: u64, bits: Option<u64>) -> LinkConfig {
    LinkConfig {
        rtt: Duration::from_millis(rtt_ms),
        jitter: Duration::from_millis(jitter_ms),
        bandwidth_bits_per_sec: bits,
        applies_to: transport_bench::link::FaultTarget::All,
    }
}
