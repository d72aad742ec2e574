//! SSE over HTTP/2: the conformance kit over h2 (TLS, by ALPN) and h2c (prior knowledge), event
//! streams of several subscribers multiplexed over one connection, and curl reading a stream over
//! HTTP/2 both ways.

use std::time::Duration;

use tokio::net::TcpListener;
use transport_core::tls::{Material, TlsServer};
use transport_core::{ServerContext, ServerHandle, Transport, conformance};
use transport_long_poll::HttpVersion;
use transport_sse::{Sse, SseConfig};
use transport_test_support::peers;

fn h2() -> SseConfig {
    SseConfig {
        http: HttpVersion::Http2,
        ..SseConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_h2c() {
    conformance::run_all::<Sse>(h2()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_h2_over_tls() {
    conformance::run_all_with::<Sse>(&conformance::Setup::tls(), h2()).await;
}

/// Seven event streams (a browser's six-per-origin limit, plus one) on one connection; the
/// publisher has its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seven_streams_share_one_connection() {
    let report = conformance::delivers_in_order::<Sse>(h2(), 7, 50, 100).await;
    assert_eq!(report.client.connections, 2, "{report:?}");
}

/// Runs curl (`how` says which HTTP/2) for a second on `url` after publishing `hello` to
/// `base`; returns what the stream printed, response head included.
async fn stream_with_curl(how: &[&str], base: &str) -> String {
    let run = |args: Vec<String>| async move {
        let mut cmd = tokio::process::Command::new("curl");
        cmd.args(&args).kill_on_drop(true);
        tokio::time::timeout(Duration::from_secs(20), cmd.output())
            .await
            .expect("curl finishes")
            .expect("curl runs")
    };
    let mut post: Vec<String> = how.iter().map(|s| s.to_string()).collect();
    post.extend(
        [
            "-sS",
            "-o",
            "/dev/null",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"messages":["aGVsbG8="]}"#,
        ]
        .map(String::from),
    );
    post.push(format!("{base}/topics/demo/messages"));
    let out = run(post).await;
    assert!(out.status.success(), "publish: {out:?}");
    let mut get: Vec<String> = how.iter().map(|s| s.to_string()).collect();
    get.extend(["-sSiN", "-m", "1"].map(String::from));
    get.push(format!("{base}/topics/demo/events?from=0"));
    let out = run(get).await;
    // `-m` ends the stream: exit status 28.
    assert_eq!(out.status.code(), Some(28), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn serve(material: Option<&Material>) -> (transport_long_poll::LongPollServer, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let ctx = ServerContext {
        tls: material.map(|m| TlsServer::from_material(m, &[]).expect("TLS config")),
        ..ServerContext::fresh()
    };
    let server = Sse::serve(&SseConfig::default(), listener, ctx)
        .await
        .expect("server starts");
    let addr = server.local_addr().to_string();
    (server, addr)
}

fn assert_h2_event(out: &str) {
    assert!(out.starts_with("HTTP/2 200"), "{out}");
    assert!(out.contains("id: 0\ndata: aGVsbG8=\n\n"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_http2_prior_knowledge_over_plaintext() {
    if !peers::present(&peers::CURL_HTTP2) {
        return;
    }
    let (server, addr) = serve(None).await;
    let out = stream_with_curl(&["--http2-prior-knowledge"], &format!("http://{addr}")).await;
    assert_h2_event(&out);
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
    let out = stream_with_curl(&["--http2", "--cacert", &ca], &format!("https://{addr}")).await;
    assert_h2_event(&out);
    server.shutdown().await.expect("shutdown");
}
