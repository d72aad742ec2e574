//! A standard WebSocket client that is not ours subscribes: `examples/subscribe.py`, built on
//! PyPI's `websockets`, the same script the README shows. Without Python's `websockets`
//! (`scripts/install-peers.sh` puts it in a venv) it prints one skip line, or fails under
//! `TRANSPORT_BENCH_REQUIRE_PEERS=1`.

mod common;
#[path = "common/publish.rs"]
mod publish;
#[path = "common/raw.rs"]
mod raw;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{bounded, server};
use publish::raw_publish;
use raw::raw;
use transport_core::ServerHandle;
use transport_test_support::peers;
use transport_websocket::{WebSocketConfig, proto};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_websockets_client_subscribes() {
    if !peers::present(&peers::PYTHON_WEBSOCKETS) {
        return;
    }
    let (server, _, addr) = server(&WebSocketConfig::default()).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/subscribe.py");
    let url = format!("ws://{addr}/topics/demo");
    let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
    // The script bounds its own waits (10 s per receive), so this thread always ends.
    let python = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(peers::python())
            .args([script, &url, "3"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let _ = subscribed_tx.send(first);
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        (child.wait().expect("python3 exits"), rest)
    });
    let notice = bounded("python subscribes", subscribed_rx)
        .await
        .expect("line");
    let (position, epoch) = notice
        .strip_prefix("subscribed ")
        .and_then(proto::parse_subscribed_notice)
        .unwrap_or_else(|| panic!("unexpected notice line {notice:?}"));
    assert_eq!(position, 0, "{notice}");
    assert!(
        epoch.is_some(),
        "the notice names the server epoch: {notice}"
    );
    let mut publisher = raw(&addr, "/topics/demo/publish").await;
    raw_publish(&mut publisher, 0..3, 100).await;
    let (status, lines) = bounded("python receives", python).await.expect("thread");
    assert!(status.success(), "python exited with {status}: {lines:?}");
    // Position, length, then the envelope's first bytes: publisher 0, seq 0..3.
    assert_eq!(
        lines,
        vec![
            "0 100 000000000000000000000000",
            "1 100 000000000000000000000001",
            "2 100 000000000000000000000002",
        ]
    );
    drop(publisher);
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
}
