//! Shared set-up for the end-to-end tests: a broker on `127.0.0.1:0`, clients, and reader
//! tasks that report every message they receive over a channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use transport_core::envelope::Envelope;
use transport_core::{ClientContext, Publisher, ServerContext, Subscriber, Transport};

use crate::{
    BrokerConfig, PullLog, PullLogConfig, PullLogPublisher, PullLogServer, PullLogSubscriber,
};

/// The bound on every wait in these tests.
pub const STEP: Duration = Duration::from_secs(20);

/// Awaits `f` within [`STEP`] (test-support's `bounded_for`; these tests keep their 20 s
/// rather than its 10 s default).
pub async fn bounded<F: std::future::Future>(what: &str, f: F) -> F::Output {
    transport_test_support::bounded_for(STEP, what, f).await
}

/// A config with `partitions` partitions per topic.
pub fn config(partitions: u32) -> PullLogConfig {
    PullLogConfig {
        broker: BrokerConfig {
            partitions_per_topic: partitions,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Starts the embedded broker; returns it and its address.
pub async fn broker(config: &PullLogConfig) -> (PullLogServer, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = bounded(
        "serve",
        PullLog::serve(config, listener, ServerContext::fresh()),
    )
    .await
    .unwrap();
    let addr = transport_core::ServerHandle::local_addr(&server).to_string();
    (server, addr)
}

/// A publisher with `index` (which picks its partition).
pub async fn publisher(
    config: &PullLogConfig,
    addr: &str,
    topic: &str,
    index: u32,
) -> PullLogPublisher {
    bounded(
        "publisher",
        PullLog::publisher(config, addr, topic, ClientContext::fresh(index)),
    )
    .await
    .unwrap()
}

/// A subscriber with fresh counters.
pub async fn subscriber(
    config: &PullLogConfig,
    addr: &str,
    topic: &str,
    index: u32,
) -> PullLogSubscriber {
    bounded(
        "subscribe",
        PullLog::subscriber(config, addr, topic, ClientContext::fresh(index)),
    )
    .await
    .unwrap()
}

/// The message `seq` of publisher `publisher`.
pub fn message(publisher: u32, seq: u64) -> Bytes {
    Envelope {
        publisher,
        seq,
        intended_ns: 0,
        sent_ns: 0,
    }
    .encode(64)
}

/// Publishes `seqs` from `p` (publisher id `id`) and flushes.
pub async fn publish(p: &mut PullLogPublisher, id: u32, seqs: std::ops::Range<u64>) {
    for seq in seqs {
        bounded("publish", p.publish(message(id, seq)))
            .await
            .unwrap();
    }
    bounded("flush", p.flush()).await.unwrap();
}

/// A subscriber running in a task: every message goes to `tx` as (reader, publisher, seq)
/// until `stop` is set; then the subscriber is closed.
pub struct Reader {
    pub stop: Arc<AtomicBool>,
    pub task: JoinHandle<()>,
}

impl Reader {
    pub fn spawn(
        mut sub: PullLogSubscriber,
        id: usize,
        tx: mpsc::UnboundedSender<(usize, u32, u64)>,
    ) -> Reader {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut buf = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                buf.clear();
                bounded("recv", sub.recv(&mut buf)).await.unwrap();
                for m in &buf {
                    let e = Envelope::decode(m).unwrap();
                    let _ = tx.send((id, e.publisher, e.seq));
                }
            }
            bounded("close", sub.close()).await.unwrap();
        });
        Reader { stop, task }
    }

    /// Stops after the current poll and waits for the close.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        bounded("reader stop", self.task).await.unwrap();
    }
}

/// Receives until `n` messages arrived (within one bound, since empty polls also return);
/// returns their seqs in arrival order.
pub async fn receive(sub: &mut PullLogSubscriber, n: usize) -> Vec<u64> {
    bounded("receive", async {
        let mut seqs = Vec::new();
        let mut buf = Vec::new();
        while seqs.len() < n {
            buf.clear();
            sub.recv(&mut buf).await.unwrap();
            seqs.extend(buf.iter().map(|m| Envelope::decode(m).unwrap().seq));
        }
        seqs
    })
    .await
}
