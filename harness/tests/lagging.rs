//! A subscriber that stops reading while publishing goes on, per transport, over real sockets:
//! where its data waits on the server side, as the run reports it (the transport's gauges and
//! the kernel's send queues of the server's connections, the figures `serve --metrics`
//! exposes). A push transport's per-subscriber queue and socket buffers fill, then drain once it
//! reads again; a pull or held-poll transport keeps nothing per subscriber, only its shared log,
//! which reading does not shrink.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use transport_core::conformance::message;
use transport_core::occupancy::{QUEUED_BYTES, QUEUED_MESSAGES, RETAINED_MESSAGES};
use transport_core::{ClientContext, Counters, Publisher, ServerContext, ServerHandle, Transport};
use transport_test_support::traffic::{clients, receive_all, serve};
use transport_test_support::{bounded, bounded_for};

/// Messages published while the subscriber does not read, and their size: 32 MiB in all, more
/// than loopback socket buffers hold, so whatever the server queues itself shows.
const N: u64 = 2000;
const LEN: usize = 16 * 1024;
/// How long a level may take to reach what the test waits for.
const SETTLE: Duration = Duration::from_secs(30);

/// What a transport is expected to keep for a subscriber that does not read.
struct Expect {
    /// It has per-subscriber queues: they fill, then drain.
    queue: bool,
    /// Its server keeps writing to the subscriber's socket: the kernel's send queue fills,
    /// then drains.
    socket: bool,
}

/// The server's levels now: gauges by name, and the kernel's send-queue bytes.
fn levels(counters: &Counters, port: u16) -> (std::collections::BTreeMap<String, i64>, u64) {
    let gauges = counters
        .gauge_values()
        .into_iter()
        .map(|(k, g)| (k, g.value))
        .collect();
    (
        gauges,
        transport_core::sendq::send_queue_bytes(port).unwrap(),
    )
}

/// Checks the server's levels every 10 ms until `cond` holds, failing after [`SETTLE`]; a
/// level has no event to wait on.
async fn settle(
    what: &str,
    counters: &Counters,
    port: u16,
    cond: impl Fn(&(std::collections::BTreeMap<String, i64>, u64)) -> bool,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let last = bounded_for(SETTLE, what, async {
        loop {
            tick.tick().await;
            let now = levels(counters, port);
            if cond(&now) {
                return now;
            }
        }
    })
    .await;
    eprintln!("{what}: {last:?}");
}

async fn lagging<T: Transport>(config: T::Config, expect: Expect) {
    let ctx = ServerContext::fresh();
    let server = serve::<T>(&config, "127.0.0.1:0", ctx.clone()).await;
    let port = server.local_addr().port();
    let addr = server.local_addr().to_string();
    let (mut sub, mut publisher) =
        clients::<T>(&config, &addr, &addr, &ClientContext::fresh(0)).await;
    // Publishing runs apart: where the policy is backpressure it waits for the reader.
    let publishing = tokio::spawn(async move {
        for seq in 0..N {
            publisher.publish(message(seq, LEN)).await.unwrap();
        }
        publisher.flush().await.unwrap();
        publisher
    });
    let c = &ctx.counters;
    let g = |l: &(std::collections::BTreeMap<String, i64>, u64), name: &str| {
        l.0.get(name).copied().unwrap_or(0)
    };
    settle("the lagging subscriber's data piles up", c, port, |l| {
        let queue = !expect.queue || g(l, QUEUED_MESSAGES) >= 64;
        let socket = !expect.socket || l.1 >= 64 * 1024;
        queue && socket && g(l, RETAINED_MESSAGES) > 0
    })
    .await;
    let gauges = c.gauge_values();
    assert_eq!(
        gauges.contains_key(QUEUED_MESSAGES),
        expect.queue,
        "per-subscriber queue gauges exactly where the transport has such queues: {gauges:?}"
    );
    let want: BTreeSet<u64> = (0..N).collect();
    receive_all(&mut sub, &want).await;
    let publisher = bounded("publishing ends", publishing).await.unwrap();
    let retained = g(&levels(c, port), RETAINED_MESSAGES);
    settle("it caught up: nothing waits for it", c, port, |l| {
        g(l, QUEUED_MESSAGES) == 0 && g(l, QUEUED_BYTES) == 0 && l.1 == 0
    })
    .await;
    // Reading does not shrink a shared log: it is kept for every consumer, bounded by retention.
    assert_eq!(g(&levels(c, port), RETAINED_MESSAGES), retained);
    assert!(retained > 0);
    if expect.queue {
        let peak = c.gauge_values()[QUEUED_MESSAGES].peak;
        assert!(peak >= 64, "the queue's peak is kept: {peak}");
    }
    bounded("close", publisher.close()).await.unwrap();
    drop(sub);
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_tcp_queue_and_socket_fill_then_drain() {
    let config = transport_raw_tcp::RawTcpConfig::default();
    lagging::<transport_raw_tcp::RawTcp>(
        config,
        Expect {
            queue: true,
            socket: true,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_queue_and_socket_fill_then_drain() {
    let config = transport_websocket::WebSocketConfig {
        slow_consumer: transport_websocket::SlowConsumer::Block,
        ..Default::default()
    };
    lagging::<transport_websocket::WebSocket>(
        config,
        Expect {
            queue: true,
            socket: true,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_fills_only_the_socket_and_the_shared_log() {
    let config = transport_sse::SseConfig::default();
    lagging::<transport_sse::Sse>(
        config,
        Expect {
            queue: false,
            socket: true,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_keeps_only_the_shared_log() {
    let config = transport_long_poll::LongPollConfig::default();
    lagging::<transport_long_poll::LongPoll>(
        config,
        Expect {
            queue: false,
            socket: false,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_log_keeps_only_the_shared_log() {
    let config = transport_pull_log::PullLogConfig::default();
    lagging::<transport_pull_log::PullLog>(
        config,
        Expect {
            queue: false,
            socket: false,
        },
    )
    .await;
}
