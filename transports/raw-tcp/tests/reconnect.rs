//! raw-tcp after broken connections: both clients reconnect and resume, so a cut of every
//! connection loses nothing and repeats nothing; a subscriber that was away longer than the
//! server's retention has the gap counted; a restarted server is recognised by its epoch.

use std::time::Duration;

use bytes::Bytes;
use transport_core::conformance::CutProxy;
use transport_core::{
    ClientContext, Publisher, ServerContext, ServerHandle, Subscriber, Transport,
};
use transport_raw_tcp::{RawTcp, RawTcpConfig};
use transport_test_support::bounded;
use transport_test_support::traffic::{clients, message, publish_all, receive_until, serve};

fn fast() -> RawTcpConfig {
    RawTcpConfig {
        reconnect_base: Duration::from_millis(2),
        reconnect_cap: Duration::from_millis(20),
        ..RawTcpConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_of_every_connection_loses_and_repeats_nothing() {
    let config = fast();
    let server = serve::<RawTcp>(&config, "127.0.0.1:0", ServerContext::fresh()).await;
    let proxy = CutProxy::start(server.local_addr()).await;
    let via = proxy.addr().to_string();
    let ctx = ClientContext::fresh(0);
    let (mut sub, mut publisher) = clients::<RawTcp>(&config, &via, &via, &ctx).await;
    publish_all(&mut publisher, 0..50).await;
    assert_eq!(
        receive_until(&mut sub, 49).await,
        (0..50).collect::<Vec<_>>()
    );

    proxy.cut_all();
    // The first writes after the cut land in the dead socket's buffer and succeed locally; the
    // publisher finds out on a later write or at the flush's sync, and resends.
    let receiving = tokio::spawn(async move {
        let seqs = receive_until(&mut sub, 199).await;
        (sub, seqs)
    });
    publish_all(&mut publisher, 50..200).await;
    let (sub, seqs) = bounded("receive after cut", receiving)
        .await
        .expect("receiver");
    assert_eq!(seqs, (50..200).collect::<Vec<_>>(), "in order, once");
    let counters = ctx.counters.counter_values();
    eprintln!("raw-tcp counters after the cut: {counters:?}");
    assert!(counters["publisher_reconnects"] >= 1);
    assert!(counters["reconnects"] >= 1);
    assert_eq!(counters["publisher_session_resets"], 0);
    assert_eq!(counters["publisher_epoch_resets"], 0);
    assert_eq!(counters["resume_skipped"], 0);
    bounded("close", publisher.close()).await.expect("close");
    bounded("close", sub.close()).await.expect("close");
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_away_longer_than_the_retention_has_the_gap_counted() {
    // Room for exactly 10 messages of 64 bytes (plus 32 of bookkeeping each).
    let config = RawTcpConfig {
        retain_bytes: 10 * (64 + 32),
        ..fast()
    };
    let server_ctx = ServerContext::fresh();
    let server = serve::<RawTcp>(&config, "127.0.0.1:0", server_ctx.clone()).await;
    let proxy = CutProxy::start(server.local_addr()).await;
    let ctx = ClientContext::fresh(0);
    // Only the subscriber goes through the proxy.
    let via = proxy.addr().to_string();
    let direct = server.local_addr().to_string();
    let (mut sub, mut publisher) = clients::<RawTcp>(&config, &via, &direct, &ctx).await;
    publish_all(&mut publisher, 0..5).await;
    assert_eq!(receive_until(&mut sub, 4).await, (0..5).collect::<Vec<_>>());
    proxy.cut_all();
    // The subscriber is away (it reconnects only on its next recv) while 100 more go out.
    publish_all(&mut publisher, 5..105).await;
    let seqs = receive_until(&mut sub, 104).await;
    assert_eq!(
        seqs,
        (95..105).collect::<Vec<_>>(),
        "the retained tail, in order"
    );
    assert_eq!(ctx.counters.counter_values()["resume_skipped"], 90);
    assert_eq!(
        server_ctx.counters.counter_values()["server_resume_skipped"],
        90
    );
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_recognised_by_its_epoch() {
    // Syncs only when asked, so which messages are unconfirmed at the restart is known.
    let config = RawTcpConfig {
        sync_interval: Duration::from_secs(3600),
        ..fast()
    };
    let first = serve::<RawTcp>(&config, "127.0.0.1:0", ServerContext::fresh()).await;
    let addr = first.local_addr().to_string();
    let ctx = ClientContext::fresh(0);
    let (mut sub, mut old) = clients::<RawTcp>(&config, &addr, &addr, &ctx).await;
    publish_all(&mut old, 0..10).await;
    // Delivered, but not confirmed to the publisher when the server goes away.
    for seq in 10..15 {
        bounded("publish", old.publish(message(seq)))
            .await
            .expect("publish");
    }
    assert_eq!(
        receive_until(&mut sub, 14).await,
        (0..15).collect::<Vec<_>>()
    );
    bounded("shutdown", first.shutdown())
        .await
        .expect("shutdown");

    // The new incarnation takes the same port. The old publisher comes back first and resends
    // what was never confirmed (10..15, duplicates for this subscriber), then a new publisher
    // takes the log past the subscriber's old position of 15 before the subscriber returns.
    let second = serve::<RawTcp>(&config, &addr, ServerContext::fresh()).await;
    publish_all(&mut old, 15..20).await;
    let other = ClientContext::fresh(1);
    let mut new = bounded("publisher", RawTcp::publisher(&config, &addr, "t", other))
        .await
        .expect("publisher");
    publish_all(&mut new, 100..130).await;
    let expected: Vec<u64> = (10..20).chain(100..130).collect();
    assert_eq!(
        receive_until(&mut sub, 129).await,
        expected,
        "everything the new server has, from its start"
    );
    let counters = ctx.counters.counter_values();
    assert_eq!(counters["epoch_resets"], 1);
    assert_eq!(counters["resume_skipped"], 0);
    assert_eq!(counters["publisher_epoch_resets"], 1);
    // 10..15, plus whatever went into the dead socket before the publisher noticed.
    assert!(counters["publisher_resent"] >= 5, "{counters:?}");
    bounded("shutdown", second.shutdown())
        .await
        .expect("shutdown");
}

/// A server with a 64 KiB resend window and frames up to 32 KiB, a proxy in front of it that
/// can cut every connection, and a subscriber and a publisher through the proxy.
async fn behind_a_cut_proxy() -> (
    <RawTcp as Transport>::Server,
    CutProxy,
    <RawTcp as Transport>::Subscriber,
    <RawTcp as Transport>::Publisher,
) {
    let config = RawTcpConfig {
        resend_buffer_bytes: 64 * 1024,
        max_frame_bytes: 32 * 1024,
        ..fast()
    };
    let server = serve::<RawTcp>(&config, "127.0.0.1:0", ServerContext::fresh()).await;
    let proxy = CutProxy::start(server.local_addr()).await;
    let via = proxy.addr().to_string();
    let ctx = ClientContext::fresh(0);
    let (sub, publisher) = clients::<RawTcp>(&config, &via, &via, &ctx).await;
    (server, proxy, sub, publisher)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_through_a_cut_lose_nothing_and_an_oversized_one_is_refused() {
    // A 64 KiB window and 16 KiB messages: unconfirmed messages must not fall out of it.
    // (Whether the publisher had to wait depends on timing here; the next test pins that.)
    let (server, proxy, mut sub, mut publisher) = behind_a_cut_proxy().await;
    let big = |seq| transport_core::conformance::message(seq, 16 * 1024);
    let oversized = Bytes::from(vec![1u8; 40 * 1024]);
    assert!(publisher.publish(oversized).await.is_err());
    assert!(
        publisher.publish(Bytes::new()).await.is_err(),
        "empty frames are syncs"
    );
    let receiving = tokio::spawn(async move {
        let seqs = receive_until(&mut sub, 59).await;
        (sub, seqs)
    });
    for seq in 0..60 {
        if seq == 30 {
            proxy.cut_all();
        }
        bounded("publish", publisher.publish(big(seq)))
            .await
            .expect("publish");
    }
    bounded("flush", publisher.flush()).await.expect("flush");
    let (_sub, seqs) = bounded("receive", receiving).await.expect("receiver");
    assert_eq!(seqs, (0..60).collect::<Vec<_>>(), "in order, once");
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_within_and_beyond_the_window_through_a_cut_lose_nothing() {
    // A 64 KiB window and 16 KiB messages: a batch of 2 fits it and goes out whole, a batch
    // of 8 does not and goes one message at a time, waiting for confirmations.
    let (server, proxy, mut sub, mut publisher) = behind_a_cut_proxy().await;
    let batch = |seqs: std::ops::Range<u64>| -> Vec<Bytes> {
        seqs.map(|seq| transport_core::conformance::message(seq, 16 * 1024))
            .collect()
    };
    let receiving = tokio::spawn(async move {
        let seqs = receive_until(&mut sub, 59).await;
        (sub, seqs)
    });
    let mut seq = 0;
    for size in [2, 8, 2, 8, 2, 8, 2, 8, 2, 8, 2, 8] {
        if seq == 30 {
            proxy.cut_all();
        }
        let mut accepted = 0;
        bounded(
            "publish batch",
            publisher.publish_batch(&batch(seq..seq + size), &mut accepted),
        )
        .await
        .expect("publish batch");
        assert_eq!(accepted, size as usize);
        seq += size;
    }
    bounded("flush", publisher.flush()).await.expect("flush");
    let (_sub, seqs) = bounded("receive", receiving).await.expect("receiver");
    assert_eq!(seqs, (0..60).collect::<Vec<_>>(), "in order, once");
    // A bad message inside a batch: the ones before it are accepted, it is refused.
    let mut bad = batch(60..63);
    bad[1] = Bytes::new();
    let mut accepted = 0;
    assert!(publisher.publish_batch(&bad, &mut accepted).await.is_err());
    assert_eq!(accepted, 1, "only the message before the empty one");
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_window_waits_for_the_servers_confirmation() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_util::codec::{Framed, LengthDelimitedCodec};
    // A scripted server: it takes the hello, answers it, reads everything, and answers the
    // syncs only when told to, with the number of messages it has read.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (answer, mut answer_rx) = tokio::sync::mpsc::channel::<()>(1);
    let server = tokio::spawn(async move {
        let (s, _) = listener.accept().await.expect("accept");
        let codec = LengthDelimitedCodec::builder()
            .max_frame_length(1 << 20)
            .new_codec();
        let mut f = Framed::new(s, codec);
        let _hello = f.next().await.expect("hello").expect("hello");
        let mut ack = vec![0u8];
        ack.extend_from_slice(&1u64.to_be_bytes());
        ack.extend_from_slice(&u64::MAX.to_be_bytes());
        f.send(Bytes::from(ack)).await.expect("ack");
        let (mut messages, mut syncs, mut may_answer) = (0u64, 0u32, false);
        loop {
            tokio::select! {
                frame = f.next() => match frame {
                    Some(Ok(b)) if b.is_empty() => syncs += 1,
                    Some(Ok(_)) => messages += 1,
                    _ => return messages,
                },
                Some(()) = answer_rx.recv(), if !may_answer => may_answer = true,
            }
            while may_answer && syncs > 0 {
                syncs -= 1;
                f.send(Bytes::copy_from_slice(&messages.to_be_bytes()))
                    .await
                    .expect("sync reply");
            }
        }
    });
    let config = RawTcpConfig {
        resend_buffer_bytes: 64 * 1024,
        sync_every_messages: 1_000_000,
        sync_interval: Duration::from_secs(3600),
        ..fast()
    };
    let ctx = ClientContext::fresh(0);
    let mut publisher = bounded(
        "publisher",
        RawTcp::publisher(&config, &addr, "t", ctx.clone()),
    )
    .await
    .expect("publisher");
    let big = || Bytes::from(vec![7u8; 16 * 1024]);
    for _ in 0..4 {
        bounded("publish", publisher.publish(big()))
            .await
            .expect("publish within the window");
    }
    // The fifth would pass 64 KiB of unconfirmed messages: it waits for a confirmation.
    let mut fifth = tokio::spawn(async move {
        publisher.publish(big()).await.expect("publish");
        publisher
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut fifth)
            .await
            .is_err(),
        "the fifth message must wait while the window is full"
    );
    answer.send(()).await.expect("tell the server to answer");
    let mut publisher = bounded("fifth publish", fifth).await.expect("task");
    assert_eq!(ctx.counters.counter_values()["publisher_window_waits"], 1);
    // Read every sync answer before closing: closing with answers unread makes the kernel
    // reset the connection, and the scripted server would then fail writing the next answer
    // or lose the fifth message it had not read yet.
    bounded("flush", publisher.flush()).await.expect("flush");
    drop(publisher);
    assert_eq!(bounded("server", server).await.expect("server"), 5);
}
