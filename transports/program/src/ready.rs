//! Waiting until a started program answers: a bounded poll of its address, abandoned as soon
//! as the program exits. A program we did not write gives no other signal of readiness, so
//! this is the testcontainers "wait for port / wait for HTTP" strategy.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Ready;

/// Pause between two probes: short against startup times of tens of milliseconds.
const PROBE_INTERVAL: Duration = Duration::from_millis(10);
/// Bound on one probe's exchange.
const PROBE_BOUND: Duration = Duration::from_secs(2);

/// One probe: `Ok(())` when the program answered as `ready` says.
async fn probe(ready: &Ready) -> std::io::Result<()> {
    match ready {
        Ready::Tcp(addr) => TcpStream::connect(addr).await.map(drop),
        Ready::Http { addr, path } => {
            let mut s = TcpStream::connect(addr).await?;
            let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await?;
            let mut head = [0u8; 9];
            s.read_exact(&mut head).await?;
            if head.starts_with(b"HTTP/1.") {
                Ok(())
            } else {
                Err(std::io::Error::other("not an HTTP status line"))
            }
        }
    }
}

/// Probes until the program answers; the caller bounds the whole wait and races it against
/// the program's exit.
pub(crate) async fn until_ready(ready: &Ready) {
    loop {
        if let Ok(Ok(())) = tokio::time::timeout(PROBE_BOUND, probe(ready)).await {
            return;
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}
