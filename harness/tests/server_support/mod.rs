//! Traffic for the server tests: one subscriber, one publisher, `n` messages, all received,
//! both clients closed. Returns the clients' wire stats.

use std::sync::Arc;

use transport_core::conformance::message;
use transport_core::{ClientContext, Publisher, Subscriber, Transport, WireStats};
use transport_test_support::bounded;
use transport_test_support::traffic::clients;

/// Sends `n` messages of `payload` bytes through the server at `addr` and waits until the one
/// subscriber has all of them.
pub async fn traffic<T: Transport>(
    config: &T::Config,
    addr: &str,
    n: usize,
    payload: usize,
) -> Arc<WireStats> {
    let ctx = ClientContext::fresh(0);
    let (mut sub, mut publisher) = clients::<T>(config, addr, addr, &ctx).await;
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
