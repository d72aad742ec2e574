//! Runs the curl session from README.md against a real server, so the documented commands and
//! outputs stay true. Each command runs with `sh -c` and `ADDR` set; its output must match the
//! `# →` lines after it, whitespace-normalised. Without curl it prints one skip line (a failure under
//! `TRANSPORT_BENCH_REQUIRE_PEERS=1`).

use std::time::Duration;

use tokio::net::TcpListener;
use transport_core::{ServerContext, ServerHandle, Transport};
use transport_long_poll::{LongPoll, LongPollConfig};
use transport_test_support::{normalise, peers, readme_curl_session};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_curl_session_works() {
    if !peers::present(&peers::CURL) {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = LongPoll::serve(&LongPollConfig::default(), listener, ServerContext::fresh())
        .await
        .expect("server starts");
    let addr = server.local_addr().to_string();
    let steps = readme_curl_session(env!("CARGO_MANIFEST_DIR"));
    assert!(steps.len() >= 8, "{steps:?}");
    for (command, expected) in steps {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(&command)
            .env("ADDR", &addr)
            .kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
            .await
            .expect("command finishes")
            .expect("sh runs");
        assert!(out.status.success(), "{command}: {out:?}");
        assert_eq!(
            normalise(&String::from_utf8_lossy(&out.stdout)),
            normalise(&expected),
            "{command}"
        );
    }
    server.shutdown().await.expect("shutdown");
}
