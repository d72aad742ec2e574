//! Clients we did not write, over TLS, against `transport-bench serve --tls-cert --tls-key`:
//! curl against long-poll and sse (https), kcat with `security.protocol=ssl` against the
//! pull-log broker's SSL listener, Python's `websockets` over wss. Each trusts only the
//! throwaway CA the test made (no verification switched off). A missing program prints one
//! skip line, or fails under `TRANSPORT_BENCH_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use transport_core::tls::{Material, MaterialFiles};
use transport_test_support::peers;

mod bin_support;
use bin_support::BIN;

/// A `serve` child over TLS; killed when dropped.
struct Served {
    child: Child,
    addr: String,
    files: MaterialFiles,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve --transport NAME` with a fresh throwaway certificate; returns once it printed
/// its address (the child bounds nothing here, so a reader thread and a deadline do).
fn serve(transport: &str) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let files = Material::throwaway().unwrap().write_to(dir.path()).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--transport", transport, "--tls-cert"])
        .arg(&files.cert)
        .arg("--tls-key")
        .arg(&files.key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let addr = line
        .trim()
        .rsplit(' ')
        .next()
        .filter(|_| line.contains("listening on"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Served {
        child,
        addr,
        files,
        _dir: dir,
    }
}

/// Runs `sh -c script` with `ADDR` and `CA` set, killing it after `limit`.
fn sh(served: &Served, script: &str, limit: Duration) -> Output {
    let mut child = Command::new("sh")
        .args(["-c", script])
        .env("ADDR", &served.addr)
        .env("CA", &served.files.ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`{script}` did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn curl_publishes_and_polls_over_https() {
    if !peers::present(&peers::CURL) {
        return;
    }
    let s = serve("long-poll");
    let post = sh(
        &s,
        r#"curl -sS --cacert "$CA" -H 'Content-Type: application/json' -d '{"messages":["aGVsbG8="]}' "https://$ADDR/topics/demo/messages""#,
        LIMIT,
    );
    assert!(post.status.success(), "{post:?}");
    let poll = sh(
        &s,
        r#"curl -sS --cacert "$CA" -H 'Accept: application/json' "https://$ADDR/topics/demo/poll?cursor=0&timeout_ms=5000""#,
        LIMIT,
    );
    assert_eq!(
        text(&poll),
        r#"{"next_cursor":1,"messages":["aGVsbG8="]}"#,
        "{poll:?}"
    );
    // The same URL over plain http is refused by the TLS server, which keeps serving.
    let plain = sh(
        &s,
        r#"curl -sS -m 5 "http://$ADDR/topics/demo/poll?cursor=0""#,
        LIMIT,
    );
    assert!(!plain.status.success(), "{plain:?}");
    let again = sh(
        &s,
        r#"curl -sS --cacert "$CA" -H 'Accept: application/json' "https://$ADDR/topics/demo/poll?cursor=0&timeout_ms=5000""#,
        LIMIT,
    );
    assert_eq!(text(&again), text(&poll));
}

#[test]
fn curl_reads_an_event_stream_over_https() {
    if !peers::present(&peers::CURL) {
        return;
    }
    let s = serve("sse");
    let post = sh(
        &s,
        r#"curl -sS --cacert "$CA" -H 'Content-Type: application/json' -d '{"messages":["aGVsbG8="]}' "https://$ADDR/topics/demo/messages""#,
        LIMIT,
    );
    assert!(post.status.success(), "{post:?}");
    // `-m 2` ends the held stream (exit 28) after the event arrived.
    let events = sh(
        &s,
        r#"curl -sSN --cacert "$CA" -m 2 "https://$ADDR/topics/demo/events?from=0""#,
        LIMIT,
    );
    assert_eq!(events.status.code(), Some(28), "{events:?}");
    assert!(
        text(&events).contains("id: 0\ndata: aGVsbG8=\n"),
        "{events:?}"
    );
}

#[test]
fn kcat_produces_and_consumes_over_ssl() {
    if !peers::present(&peers::KCAT) {
        return;
    }
    let s = serve("pull-log");
    let ssl = r#"-X security.protocol=ssl -X ssl.ca.location="$CA""#;
    let produce = sh(
        &s,
        &format!(r#"printf 'one\ntwo\n' | kcat -b "$ADDR" {ssl} -P -t demo"#),
        Duration::from_secs(30),
    );
    assert!(produce.status.success(), "{produce:?}");
    let consume = sh(
        &s,
        &format!(r#"kcat -b "$ADDR" {ssl} -C -t demo -o beginning -e -q"#),
        Duration::from_secs(30),
    );
    assert!(consume.status.success(), "{consume:?}");
    assert_eq!(text(&consume), "one\ntwo\n");
}

#[test]
fn python_websockets_subscribes_over_wss() {
    if !peers::present(&peers::PYTHON_WEBSOCKETS) {
        return;
    }
    let s = serve("websocket");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../transports/websocket/examples/subscribe.py")
        .canonicalize()
        .unwrap();
    // Python's default TLS context trusts the file SSL_CERT_FILE names: here, only our CA.
    let mut child = Command::new(peers::python())
        .arg(&script)
        .arg(format!("wss://{}/topics/demo", s.addr))
        .arg("1")
        .env("SSL_CERT_FILE", &s.files.ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let Ok(first) = rx.recv_timeout(LIMIT) else {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "no subscribed line: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    assert!(first.starts_with("subscribed "), "{first}");
    publish_over_wss(&s);
    let line = rx.recv_timeout(LIMIT).unwrap();
    // position, length, first bytes in hex
    assert!(line.ends_with(" 5 68656c6c6f"), "{line}");
    let status = child.wait().unwrap();
    assert!(status.success());
}

/// Publishes "hello" on `demo` with our own client over wss (the Python side only subscribes).
fn publish_over_wss(s: &Served) {
    use transport_core::tls::TlsClient;
    use transport_core::{ClientContext, Publisher, Transport};
    let ca = std::fs::read_to_string(&s.files.ca).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ctx = ClientContext {
            tls: Some(TlsClient::new(&ca, &s.files.ca, &[]).unwrap()),
            ..ClientContext::fresh(0)
        };
        let config = transport_websocket::WebSocketConfig::default();
        let publish = async {
            let mut p = transport_websocket::WebSocket::publisher(&config, &s.addr, "demo", ctx)
                .await
                .unwrap();
            p.publish(bytes::Bytes::from_static(b"hello"))
                .await
                .unwrap();
            p.flush().await.unwrap();
            p.close().await.unwrap();
        };
        tokio::time::timeout(LIMIT, publish).await.unwrap();
    });
}
