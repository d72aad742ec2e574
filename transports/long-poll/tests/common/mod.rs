//! Helpers shared by the reconnect and restart tests: bounded waits, harness-shaped messages,
//! fast-retrying options, and a receive loop that collects sequence numbers.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use transport_core::{Envelope, Subscriber};
use transport_long_poll::LongPollConfig;

/// Awaits `f` for at most 10 s, panicking with `what` otherwise.
pub async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("{what} timed out"))
}

/// A message the harness would send: an envelope with `seq`, 64 bytes in all.
pub fn message(seq: u64) -> Bytes {
    Envelope {
        publisher: 0,
        seq,
        intended_ns: 0,
        sent_ns: 0,
    }
    .encode(64)
}

/// Short holds and fast retries, so restarts and cuts resolve quickly.
pub fn config() -> LongPollConfig {
    LongPollConfig {
        hold_timeout: Duration::from_millis(500),
        reconnect_base: Duration::from_millis(5),
        reconnect_cap: Duration::from_millis(50),
        ..LongPollConfig::default()
    }
}

/// Receives until every seq in `want` arrived, within 10 s in all (a subscriber that polls on
/// but never gets them fails the test); returns how many messages came in all.
pub async fn receive_all<S: Subscriber>(sub: &mut S, want: &BTreeSet<u64>) -> usize {
    bounded("receiving every wanted seq", async {
        let mut seen = BTreeSet::new();
        let mut total = 0;
        let mut buf = Vec::new();
        while !want.is_subset(&seen) {
            buf.clear();
            sub.recv(&mut buf).await.expect("recv keeps going");
            for m in &buf {
                seen.insert(Envelope::decode(m).expect("envelope").seq);
                total += 1;
            }
        }
        total
    })
    .await
}

/// The seqs of the next non-empty delivery, within 10 s.
pub async fn next_seqs<S: Subscriber>(sub: &mut S) -> Vec<u64> {
    bounded("a non-empty delivery", async {
        let mut buf = Vec::new();
        while buf.is_empty() {
            sub.recv(&mut buf).await.expect("recv keeps going");
        }
        buf.iter()
            .map(|m| Envelope::decode(m).expect("envelope").seq)
            .collect()
    })
    .await
}
