//! Reconnects over real loopback sockets: both clients behind a proxy whose connections are cut
//! mid-stream lose nothing, and a subscriber whose server restarted (memory storage, log begins
//! again at 0) jumps to the new server's earliest cursor instead of giving up.

mod common;

use common::config;
use transport_core::conformance::CutProxy;
use transport_core::{ClientContext, ServerContext, ServerHandle};
use transport_long_poll::LongPoll;
use transport_test_support::bounded;
use transport_test_support::traffic::{clients, publish_all, receive_all, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_clients_behind_a_cut_lose_nothing() {
    let config = config();
    let server = serve::<LongPoll>(&config, "127.0.0.1:0", ServerContext::fresh()).await;
    let proxy = CutProxy::start(server.local_addr()).await;
    let addr = proxy.addr().to_string();
    let ctx = ClientContext::fresh(0);
    let (mut sub, mut publisher) = clients::<LongPoll>(&config, &addr, &addr, &ctx).await;
    publish_all(&mut publisher, 0..50).await;
    receive_all(&mut sub, &(0..50).collect()).await;
    proxy.cut_all();
    publish_all(&mut publisher, 50..100).await;
    receive_all(&mut sub, &(50..100).collect()).await;
    // One connection each before the cut (the head request shares the poll connection), and
    // new ones for both after it.
    assert!(
        ctx.wire.snapshot().connections >= 4,
        "{:?}",
        ctx.wire.snapshot()
    );
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_follows_a_restarted_server() {
    let config = config();
    let server = serve::<LongPoll>(&config, "127.0.0.1:0", ServerContext::fresh()).await;
    let ctx = ClientContext::fresh(0);
    let addr = server.local_addr().to_string();
    let (mut sub, mut publisher) = clients::<LongPoll>(&config, &addr, &addr, &ctx).await;
    publish_all(&mut publisher, 0..20).await;
    receive_all(&mut sub, &(0..20).collect()).await;
    assert_eq!(sub.cursor(), 20);

    // Restart on the same port with an empty (memory) log.
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
    let server = serve::<LongPoll>(&config, &addr, ServerContext::fresh()).await;
    publish_all(&mut publisher, 20..25).await;
    receive_all(&mut sub, &(20..25).collect()).await;
    assert_eq!(ctx.counters.counter("cursor_resets").get(), 1);
    assert_eq!(sub.cursor(), 5, "cursor follows the new server's log");
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
}
