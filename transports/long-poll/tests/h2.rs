//! Long polling over HTTP/2: the conformance kit over h2 (TLS, by ALPN) and h2c (prior
//! knowledge), subscribers multiplexed over one connection, an HTTP/1.1 client still served by
//! the same server, and curl speaking HTTP/2 to it both ways.

use std::time::Duration;

use tokio::net::TcpListener;
use transport_core::tls::{Material, TlsServer};
use transport_core::{ServerContext, ServerHandle, Transport, conformance};
use transport_long_poll::{HttpVersion, LongPoll, LongPollConfig};
use transport_test_support::peers;

fn h2() -> LongPollConfig {
    LongPollConfig {
        http: HttpVersion::Http2,
        ..LongPollConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_h2c() {
    conformance::run_all::<LongPoll>(h2()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_h2_over_tls() {
    conformance::run_all_with::<LongPoll>(&conformance::Setup::tls(), h2()).await;
}

/// Five subscribers' polls share one connection (the publisher has its own): two in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_multiplex_their_polls_over_one_connection() {
    let report = conformance::delivers_in_order::<LongPoll>(h2(), 5, 100, 100).await;
    assert_eq!(report.client.connections, 2, "{report:?}");
    let one_each = LongPollConfig {
        streams_per_connection: 1,
        ..h2()
    };
    let report = conformance::delivers_in_order::<LongPoll>(one_each, 5, 100, 100).await;
    assert_eq!(report.client.connections, 6, "{report:?}");
}

/// A client that offers only `http/1.1` by ALPN gets it from the server that also offers h2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http11_client_is_served_by_the_h2_capable_server() {
    let setup = conformance::Setup::tls_with_alpn(&[], &[b"http/1.1"]);
    let config = LongPollConfig::default();
    conformance::delivers_in_order_with::<LongPoll>(&setup, config, 2, 100, 100).await;
}

/// Serves long-poll (with TLS from `material` if given) and returns it with its address.
async fn serve(material: Option<&Material>) -> (transport_long_poll::LongPollServer, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let ctx = ServerContext {
        tls: material.map(|m| TlsServer::from_material(m, &[]).expect("TLS config")),
        ..ServerContext::fresh()
    };
    let server = LongPoll::serve(&LongPollConfig::default(), listener, ctx)
        .await
        .expect("server starts");
    let addr = server.local_addr().to_string();
    (server, addr)
}

/// Runs curl with `args`; returns its stdout. `-w` prints the HTTP version it spoke last.
async fn curl(args: &[&str]) -> String {
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args(["-sS", "--max-time", "10"])
        .args(args)
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .expect("curl finishes")
        .expect("curl runs");
    assert!(out.status.success(), "curl {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Publishes `hello` and polls it back with curl speaking HTTP/2 (`how`), at `base`.
async fn publish_and_poll(how: &[&str], base: &str) {
    let post = format!("{base}/topics/demo/messages");
    let body = r#"{"messages":["aGVsbG8="]}"#;
    let mut args = how.to_vec();
    args.extend([
        "-H",
        "Content-Type: application/json",
        "-d",
        body,
        "-w",
        " v%{http_version}",
    ]);
    args.push(&post);
    let out = curl(&args).await;
    assert!(out.ends_with(" v2"), "the publish spoke HTTP/2: {out}");
    let poll = format!("{base}/topics/demo/poll?cursor=0&timeout_ms=5000");
    let mut args = how.to_vec();
    args.extend(["-H", "Accept: application/json", "-w", " v%{http_version}"]);
    args.push(&poll);
    let out = curl(&args).await;
    assert_eq!(out, r#"{"next_cursor":1,"messages":["aGVsbG8="]} v2"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_http2_prior_knowledge_over_plaintext() {
    if !peers::present(&peers::CURL_HTTP2) {
        return;
    }
    let (server, addr) = serve(None).await;
    publish_and_poll(&["--http2-prior-knowledge"], &format!("http://{addr}")).await;
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_http2_by_alpn_over_tls() {
    if !peers::present(&peers::CURL_HTTP2) {
        return;
    }
    let material = Material::throwaway().expect("certificate");
    let dir = tempfile::tempdir().expect("temp dir");
    let files = material.write_to(dir.path()).expect("write PEM");
    let (server, addr) = serve(Some(&material)).await;
    let ca = files.ca.to_string_lossy().into_owned();
    let how = ["--http2", "--cacert", ca.as_str()];
    publish_and_poll(&how, &format!("https://{addr}")).await;
    server.shutdown().await.expect("shutdown");
}
