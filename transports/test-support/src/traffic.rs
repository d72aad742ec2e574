//! Traffic for any [`Transport`]: a server on loopback, a subscriber and publisher pair,
//! harness-shaped messages, a publish loop, and receive loops that collect sequence numbers.
//!
//! Reconnect and server tests in every transport crate start a server, connect clients, cut
//! or restart something, publish, and check the sequence numbers that arrive; this is that
//! shared skeleton. What is specific to one transport (its config, raw protocol clients,
//! scripted servers) stays in that crate's tests. Every step is bounded by [`BOUND`](crate::BOUND).

use std::collections::BTreeSet;
use std::ops::Range;

use bytes::Bytes;
use tokio::net::TcpListener;
use transport_core::{ClientContext, Envelope, Publisher, ServerContext, Subscriber, Transport};

use crate::bounded;

/// Bytes in one [`message`]: an envelope and a small payload, as a light benchmark sends.
pub const MESSAGE_BYTES: usize = 64;

/// A message as the harness would send it: an envelope with `seq`, [`MESSAGE_BYTES`] in all.
pub fn message(seq: u64) -> Bytes {
    transport_core::conformance::message(seq, MESSAGE_BYTES)
}

/// The sequence numbers of a delivered batch, in order.
pub fn seqs(batch: &[Bytes]) -> Vec<u64> {
    batch
        .iter()
        .map(|m| {
            Envelope::decode(m)
                .expect("message arrives with its envelope")
                .seq
        })
        .collect()
}

/// Starts `T`'s server on `addr`: `127.0.0.1:0` for a fresh port, or a stopped server's
/// address to restart it in place.
pub async fn serve<T: Transport>(config: &T::Config, addr: &str, ctx: ServerContext) -> T::Server {
    let listener = bounded("bind", TcpListener::bind(addr))
        .await
        .expect("bind");
    bounded("serve", T::serve(config, listener, ctx))
        .await
        .expect("server starts")
}

/// A subscriber and a publisher of topic `t` sharing `ctx`, connected through `sub_addr` and
/// `pub_addr` (the same address, or one of them through a proxy).
pub async fn clients<T: Transport>(
    config: &T::Config,
    sub_addr: &str,
    pub_addr: &str,
    ctx: &ClientContext,
) -> (T::Subscriber, T::Publisher) {
    let sub = bounded(
        "subscribe",
        T::subscriber(config, sub_addr, "t", ctx.clone()),
    )
    .await
    .expect("subscribe");
    let publisher = bounded(
        "publisher",
        T::publisher(config, pub_addr, "t", ctx.clone()),
    )
    .await
    .expect("publisher");
    (sub, publisher)
}

/// Publishes [`message`]`(seq)` for every seq in `seqs`, then flushes.
pub async fn publish_all<P: Publisher>(publisher: &mut P, seqs: Range<u64>) {
    for seq in seqs {
        bounded("publish", publisher.publish(message(seq)))
            .await
            .expect("publish");
    }
    bounded("flush", publisher.flush()).await.expect("flush");
}

/// Receives until `last` arrives (each `recv` bounded); returns the seqs in arrival order.
pub async fn receive_until<S: Subscriber>(sub: &mut S, last: u64) -> Vec<u64> {
    let mut got = Vec::new();
    let mut buf = Vec::new();
    while got.last() != Some(&last) {
        buf.clear();
        bounded("recv", sub.recv(&mut buf))
            .await
            .expect("recv reconnects");
        got.extend(seqs(&buf));
    }
    got
}

/// Receives until every seq in `want` arrived, within one bound in all (a subscriber that
/// polls on but never gets them fails the test); returns how many messages came in all.
pub async fn receive_all<S: Subscriber>(sub: &mut S, want: &BTreeSet<u64>) -> usize {
    bounded("receiving every wanted seq", async {
        let mut seen = BTreeSet::new();
        let mut total = 0;
        let mut buf = Vec::new();
        while !want.is_subset(&seen) {
            buf.clear();
            sub.recv(&mut buf).await.expect("recv keeps going");
            total += buf.len();
            seen.extend(seqs(&buf));
        }
        total
    })
    .await
}

/// The seqs of the next non-empty delivery, within one bound (empty polls are skipped).
pub async fn next_seqs<S: Subscriber>(sub: &mut S) -> Vec<u64> {
    bounded("a non-empty delivery", async {
        let mut buf = Vec::new();
        while buf.is_empty() {
            sub.recv(&mut buf).await.expect("recv keeps going");
        }
        seqs(&buf)
    })
    .await
}
