//! The memory bound of a server under hostile claims: many connections that each declare the
//! largest frame, message or body the server accepts, send a few bytes of it, and stay open.
//! A decoder that reserves what a length field claims costs the claim per connection; one that
//! grows its buffer with the bytes that arrive costs what was sent. Each server crate's
//! `claims` test runs [`hold_claims`] with its own claim and a stated bound on resident memory.
//!
//! Run each in its own test binary: the figure is the whole process's resident memory (server,
//! the claiming clients and the well-behaved client are one process), so any other test in the
//! binary would add to it.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use transport_core::{Publisher, ServerContext, ServerHandle, Subscriber, Transport};

use crate::traffic::{clients, next_seqs, publish_all, serve};
use crate::{bounded, bounded_for};

/// Connections that claim at once.
pub const CLAIMANTS: usize = 1000;

/// What a run of [`hold_claims`] measured.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    /// Resident memory before the claims, KiB.
    pub rss_before_kib: u64,
    /// Resident memory with every claim read and held, KiB.
    pub rss_held_kib: u64,
    /// Virtual memory before the claims, KiB.
    pub vm_before_kib: u64,
    /// Virtual memory with every claim held, KiB.
    pub vm_held_kib: u64,
}

/// This process's resident memory (`VmRSS`), KiB; `None` off Linux.
pub fn rss_kib() -> Option<u64> {
    status_kib("VmRSS:")
}

/// This process's virtual memory (`VmSize`), KiB; `None` off Linux. Printed beside the
/// resident figure: a buffer reserved for a declared length and never written is virtual only,
/// which costs nothing until the bytes come, or fails at once under strict overcommit.
pub fn vm_size_kib() -> Option<u64> {
    status_kib("VmSize:")
}

fn status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Raises the soft descriptor limit to the hard one: the claimants and the server's side of
/// their connections both live in this process.
fn raise_nofile(need: u64) {
    let (soft, hard) = rlimit::Resource::NOFILE.get().expect("read RLIMIT_NOFILE");
    if soft < need {
        rlimit::Resource::NOFILE
            .set(hard.max(need).min(hard), hard)
            .expect("raise RLIMIT_NOFILE");
    }
    let (soft, _) = rlimit::Resource::NOFILE.get().expect("read RLIMIT_NOFILE");
    assert!(
        soft >= need,
        "need {need} descriptors, the hard limit allows {soft}"
    );
}

/// Starts `T`'s server, opens [`CLAIMANTS`] connections that each send `claim(i)` (a header
/// declaring the maximum, a few bytes of what it declares) and hold still, waits until the
/// server has read every claim, then checks that a well-behaved subscriber and publisher
/// still get messages through, and that resident memory grew by less than `bound_kib`.
pub async fn hold_claims<T: Transport>(
    config: &T::Config,
    claim: impl Fn(usize) -> Vec<u8>,
    bound_kib: u64,
) -> Held {
    raise_nofile(2 * CLAIMANTS as u64 + 256);
    let ctx = ServerContext::fresh();
    let server = serve::<T>(config, "127.0.0.1:0", ctx.clone()).await;
    let addr = server.local_addr().to_string();
    let rss_before_kib = rss_kib().unwrap_or(0);
    let vm_before_kib = vm_size_kib().unwrap_or(0);
    let read_before = read_total(&ctx);
    let mut held = Vec::with_capacity(CLAIMANTS);
    let mut claimed = 0;
    let connect = async {
        for i in 0..CLAIMANTS {
            let claim = claim(i);
            let mut s = TcpStream::connect(&addr).await.expect("connect a claimant");
            s.write_all(&claim).await.expect("send a claim");
            claimed += claim.len();
            held.push(s);
        }
        claimed
    };
    let claimed = bounded_for(Duration::from_secs(60), "connecting the claimants", connect).await;
    let expected = read_before + claimed as u64;
    let read_all = async {
        while read_total(&ctx) < expected {
            // Polls a condition (bounded below); nothing else says when the server has read.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    bounded_for(
        Duration::from_secs(60),
        "the server reading every claim",
        read_all,
    )
    .await;

    let cctx = transport_core::ClientContext::fresh(0);
    let (mut sub, mut publisher) = clients::<T>(config, &addr, &addr, &cctx).await;
    publish_all(&mut publisher, 0..3).await;
    let mut got = Vec::new();
    while got.len() < 3 {
        got.extend(next_seqs(&mut sub).await);
    }
    assert_eq!(
        got,
        vec![0, 1, 2],
        "the well-behaved client was served in order"
    );
    // Measured after the round trip, not as soon as the claims were read: what a connection
    // reserves for its claim comes a step after the read that counted its bytes, and the
    // round trip gives every connection task many turns. The claims are still held.
    let rss_held_kib = rss_kib().unwrap_or(0);
    let vm_held_kib = vm_size_kib().unwrap_or(0);

    let grew = rss_held_kib.saturating_sub(rss_before_kib);
    eprintln!(
        "{CLAIMANTS} claims ({claimed} bytes in all) held: RSS {rss_before_kib} KiB -> {rss_held_kib} KiB (+{grew} KiB; bound {bound_kib} KiB); virtual +{} KiB",
        vm_held_kib.saturating_sub(vm_before_kib)
    );
    assert!(grew < bound_kib, "resident memory grew by {grew} KiB");
    drop(held);
    bounded("subscriber close", sub.close())
        .await
        .expect("close");
    bounded("publisher close", publisher.close())
        .await
        .expect("close");
    bounded("server shutdown", server.shutdown())
        .await
        .expect("shutdown");
    Held {
        rss_before_kib,
        rss_held_kib,
        vm_before_kib,
        vm_held_kib,
    }
}

fn read_total(ctx: &ServerContext) -> u64 {
    let w = ctx.wire.snapshot();
    w.read + w.handshake_read
}
