//! Traffic for the server tests: one subscriber, one publisher, `n` messages, all received,
//! both clients closed. Returns the clients' wire stats.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use transport_core::conformance::message;
use transport_core::{ClientContext, Publisher, Subscriber, Transport, WireStats};

/// Every step of the traffic is bounded by this.
const STEP: Duration = Duration::from_secs(10);

async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {STEP:?}"))
}

/// Sends `n` messages of `payload` bytes through the server at `addr` and waits until the one
/// subscriber has all of them.
pub async fn traffic<T: Transport>(
    config: &T::Config,
    addr: &str,
    n: usize,
    payload: usize,
) -> Arc<WireStats> {
    let ctx = ClientContext::fresh(0);
    let mut sub = bounded("subscribe", T::subscriber(config, addr, "t", ctx.clone()))
        .await
        .expect("subscriber connects");
    let mut publisher = bounded("connect", T::publisher(config, addr, "t", ctx.clone()))
        .await
        .expect("publisher connects");
    for seq in 0..n {
        bounded("publish", publisher.publish(message(seq as u64, payload)))
            .await
            .expect("publish");
    }
    bounded("flush", publisher.flush()).await.expect("flush");
    let mut got = Vec::new();
    while got.len() < n {
        bounded("receive", sub.recv(&mut got))
            .await
            .expect("receive");
    }
    assert_eq!(got.len(), n, "no duplicates");
    bounded("close publisher", publisher.close())
        .await
        .expect("close");
    bounded("close subscriber", sub.close())
        .await
        .expect("close");
    ctx.wire
}
