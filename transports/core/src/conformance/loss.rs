//! The reconnect case for transports that do not resume (at-most-once: Redis Pub/Sub, MQTT at
//! QoS 0 or with a clean session): after every connection is cut, the subscriber comes back
//! on its own and receives what is published after it is back; what was published while it
//! was away may be lost, but only as missing sequence numbers the audit counts: never a
//! duplicate, never out of order, never an error.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{CutProxy, STEP_TIMEOUT, bounded, message, receive_seqs, start};
use crate::envelope::Envelope;
use crate::{ClientContext, Publisher, ServerContext, ServerHandle, Subscriber, Transport};

/// How often messages go out while the subscriber reconnects: a steady stream, so the
/// subscriber's return shows as the first message it gets after the cut.
const PACE: Duration = Duration::from_millis(5);

/// What the at-most-once reconnect case observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LossReport {
    /// Messages published in all.
    pub published: u64,
    /// Distinct messages the subscriber received.
    pub received: u64,
}

impl LossReport {
    /// Messages lost across the reconnect.
    pub fn lost(&self) -> u64 {
        self.published - self.received
    }
}

/// Cuts the subscriber's connection after `before` messages arrived, keeps publishing until
/// `after` messages published after the cut have arrived, and checks that what arrived is in
/// order without duplicates. Returns the counts; their difference is the counted loss.
pub async fn counts_loss_after_cut<T: Transport>(
    config: T::Config,
    before: u64,
    after: u64,
) -> LossReport {
    let server = start::<T>(&config, ServerContext::fresh()).await;
    let proxy = CutProxy::start(server.local_addr()).await;
    let ctx = ClientContext::fresh(0);
    let via_proxy = proxy.addr().to_string();
    let mut sub = bounded(
        "subscribe",
        T::subscriber(&config, &via_proxy, "loss", ctx.clone()),
    )
    .await
    .expect("subscribe");
    let direct = server.local_addr().to_string();
    let mut publisher = bounded("publisher", T::publisher(&config, &direct, "loss", ctx))
        .await
        .expect("publisher");
    for seq in 0..before {
        bounded("publish", publisher.publish(message(seq, 64)))
            .await
            .expect("publish");
    }
    bounded("flush", publisher.flush()).await.expect("flush");
    let (mut seqs, _) = receive_seqs(&mut sub, before as usize).await;
    assert_eq!(
        seqs,
        (0..before).collect::<Vec<_>>(),
        "before the cut every message arrives in order"
    );
    proxy.cut_all();

    let (tx, mut rx) = mpsc::unbounded_channel();
    let receiver = tokio::spawn(async move {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if sub.recv(&mut buf).await.is_err() {
                return;
            }
            for m in &buf {
                let seq = Envelope::decode(m).expect("envelope").seq;
                if tx.send(seq).is_err() {
                    return;
                }
            }
        }
    });
    let mut seq = before;
    let mut pace = tokio::time::interval(PACE);
    let mut after_cut = 0;
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    while after_cut < after {
        assert!(
            tokio::time::Instant::now() < deadline,
            "conformance: {} subscriber did not come back within {STEP_TIMEOUT:?} after a cut (got {seqs:?})",
            T::NAME
        );
        pace.tick().await;
        bounded("publish", publisher.publish(message(seq, 64)))
            .await
            .expect("publish after cut");
        bounded("flush", publisher.flush())
            .await
            .expect("flush after cut");
        seq += 1;
        while let Ok(s) = rx.try_recv() {
            seqs.push(s);
            after_cut += u64::from(s >= before);
        }
    }
    receiver.abort();
    let unique: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(
        unique.len(),
        seqs.len(),
        "an at-most-once transport delivers no duplicate: {seqs:?}"
    );
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "messages arrive in order across a reconnect: {seqs:?}"
    );
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
    LossReport {
        published: seq,
        received: seqs.len() as u64,
    }
}
