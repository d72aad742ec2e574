//! Router-level tests without sockets, so time can be paused: the hold logic is tested in
//! virtual time, the wire in `tests/`.

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower_service::Service;
use transport_core::Counters;

use super::routes::router;
use crate::codec;
use crate::config::{Encoding, LongPollConfig};

async fn call(app: &mut Router, req: Request<Body>) -> (StatusCode, Bytes) {
    std::future::poll_fn(|cx| <Router as Service<Request<Body>>>::poll_ready(app, cx))
        .await
        .unwrap();
    let resp = app.call(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, body)
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn poll_without_data_returns_empty_after_the_hold() {
    let counters = Counters::new();
    let mut app = router(
        &LongPollConfig::default(),
        &counters,
        CancellationToken::new(),
    );
    let start = Instant::now();
    // No timeout_ms: the configured 30 s hold applies.
    let (status, body) = call(&mut app, get("/topics/t/poll?cursor=0")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_empty());
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    assert_eq!(counters.counter_values()["server_empty_polls"], 1);
}

#[tokio::test(start_paused = true)]
async fn empty_status_200_carries_the_cursor() {
    let config = LongPollConfig {
        empty_status: 200,
        ..LongPollConfig::default()
    };
    let mut app = router(&config, &Counters::new(), CancellationToken::new());
    let start = Instant::now();
    let (status, body) = call(&mut app, get("/topics/t/poll?cursor=0&timeout_ms=250")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        codec::decode_batch(Encoding::Binary, &body).unwrap(),
        (0, vec![])
    );
    assert_eq!(start.elapsed(), Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn publish_releases_a_held_poll_before_the_hold() {
    let mut app = router(
        &LongPollConfig::default(),
        &Counters::new(),
        CancellationToken::new(),
    );
    let mut poller = app.clone();
    let start = Instant::now();
    let held = tokio::spawn(async move { call(&mut poller, get("/topics/t/poll?cursor=0")).await });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let publish = Request::post("/topics/t/messages")
        .body(Body::from(codec::encode_publish(
            Encoding::Binary,
            &[Bytes::from_static(b"m")],
        )))
        .unwrap();
    let (status, body) = call(&mut app, publish).await;
    assert_eq!(
        (status, &body[..]),
        (StatusCode::OK, &1u64.to_be_bytes()[..])
    );
    let (status, body) = held.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        codec::decode_batch(Encoding::Binary, &body).unwrap(),
        (1, vec![Bytes::from_static(b"m")])
    );
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}
