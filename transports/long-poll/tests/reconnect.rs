//! Reconnects over real loopback sockets: both clients behind a proxy whose connections are cut
//! mid-stream lose nothing, and a subscriber whose server restarted (memory storage, log begins
//! again at 0) jumps to the new server's earliest cursor instead of giving up.

mod common;

use common::{bounded, config, message, receive_all};
use tokio::net::TcpListener;
use transport_core::conformance::CutProxy;
use transport_core::{ClientContext, Publisher, ServerContext, ServerHandle, Transport};
use transport_long_poll::LongPoll;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_clients_behind_a_cut_lose_nothing() {
    let config = config();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = LongPoll::serve(&config, listener, ServerContext::fresh())
        .await
        .expect("serve");
    let proxy = CutProxy::start(server.local_addr()).await;
    let addr = proxy.addr().to_string();
    let ctx = ClientContext::fresh(0);
    let mut sub = bounded(
        "subscribe",
        LongPoll::subscriber(&config, &addr, "t", ctx.clone()),
    )
    .await
    .expect("subscribe");
    let mut publisher = bounded(
        "publisher",
        LongPoll::publisher(&config, &addr, "t", ctx.clone()),
    )
    .await
    .expect("publisher");
    for seq in 0..50 {
        publisher.publish(message(seq)).await.expect("publish");
    }
    bounded("flush", publisher.flush()).await.expect("flush");
    receive_all(&mut sub, &(0..50).collect()).await;
    proxy.cut_all();
    for seq in 50..100 {
        publisher
            .publish(message(seq))
            .await
            .expect("publish after cut");
    }
    bounded("flush", publisher.flush())
        .await
        .expect("flush after cut");
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
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = LongPoll::serve(&config, listener, ServerContext::fresh())
        .await
        .expect("serve");
    let ctx = ClientContext::fresh(0);
    let text = addr.to_string();
    let mut sub = bounded(
        "subscribe",
        LongPoll::subscriber(&config, &text, "t", ctx.clone()),
    )
    .await
    .expect("subscribe");
    let mut publisher = bounded(
        "publisher",
        LongPoll::publisher(&config, &text, "t", ctx.clone()),
    )
    .await
    .expect("publisher");
    for seq in 0..20 {
        publisher.publish(message(seq)).await.expect("publish");
    }
    bounded("flush", publisher.flush()).await.expect("flush");
    receive_all(&mut sub, &(0..20).collect()).await;
    assert_eq!(sub.cursor(), 20);

    // Restart on the same port with an empty (memory) log.
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
    let listener = TcpListener::bind(addr).await.expect("rebind the same port");
    let server = LongPoll::serve(&config, listener, ServerContext::fresh())
        .await
        .expect("serve again");
    for seq in 20..25 {
        publisher
            .publish(message(seq))
            .await
            .expect("publish to the new server");
    }
    bounded("flush", publisher.flush())
        .await
        .expect("flush to the new server");
    receive_all(&mut sub, &(20..25).collect()).await;
    assert_eq!(ctx.counters.counter("cursor_resets").get(), 1);
    assert_eq!(sub.cursor(), 5, "cursor follows the new server's log");
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
}
