//! `scripts/multi-host.sh` end to end, with `ssh` and `scp` replaced by stand-ins that run on this
//! machine (every "host" is localhost): the script starts `serve`, runs two shards at one start
//! instant against it, copies their folders back and merges them. What is checked is the
//! script's orchestration; the network between hosts is tests/netns.rs's subject.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_transport-bench");

const SCENARIO: &str = r#"name = "multi-host-script"
description = "websocket, two topics, one second"
transports = ["websocket"]
baseline = false
warmup = "200ms"
duration = "1s"
drain_timeout = "3s"
payload = "100B"
rate_per_sec = 400
publishers = 2
topics = 2
subscribers = [4]
"#;

/// `ssh HOST COMMAND` run here: the host is ignored.
const FAKE_SSH: &str = "#!/bin/sh\nshift\nexec sh -c \"$*\"\n";
/// `scp [-q] [-r] SRC DST` run here: `host:` prefixes are dropped.
const FAKE_SCP: &str = r#"#!/bin/sh
r=""; src=""; dst=""
for a in "$@"; do
  case "$a" in
    -q) ;;
    -r) r=-r ;;
    *) a="${a#*:}"; if [ -z "$src" ]; then src="$a"; else dst="$a"; fi ;;
  esac
done
exec cp $r "$src" "$dst"
"#;

fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn summary(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn the_script_serves_runs_two_shards_collects_and_merges() {
    let dir = tempfile::tempdir().unwrap();
    let (ssh, scp) = (dir.path().join("ssh"), dir.path().join("scp"));
    executable(&ssh, FAKE_SSH);
    executable(&scp, FAKE_SCP);
    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let out = dir.path().join("out");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/multi-host.sh");
    // `timeout` bounds the whole script, whatever it waits for.
    let o = Command::new("timeout")
        .arg("120")
        .arg(script)
        .args([
            "--server-host",
            "srv",
            "--load-hosts",
            "a,b",
            "--transport",
            "websocket",
        ])
        .args(["--server-address", "127.0.0.1", "--bind", "127.0.0.1"])
        .args(["--port", "0", "--metrics-port", "0", "--lead", "4"])
        .args(["--bin", BIN, "--local-bin", BIN, "--out"])
        .arg(&out)
        .arg(&scenario)
        .env("SSH", &ssh)
        .env("SCP", &scp)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(0), "{text}");
    let parts = [summary(&out.join("shard-0")), summary(&out.join("shard-1"))];
    let merged = summary(&out.join("merged"));
    let r = &merged["runs"][0];
    assert_eq!(r["lost"], 0, "{text}");
    let delivered: u64 = parts
        .iter()
        .map(|s| s["runs"][0]["delivered"].as_u64().unwrap())
        .sum();
    assert_eq!(r["delivered"].as_u64().unwrap(), delivered);
    assert_eq!(r["subscribers"], 4);
    for s in &parts {
        assert!(
            s["shard"]["clock_offset_ns"].is_i64(),
            "shards waited for one instant"
        );
        assert!(
            !s["runs"][0]["wire"]["server"].is_null(),
            "read from serve --metrics"
        );
    }
    assert!(text.contains("shard 1/2 on b: ok"), "{text}");
    // The script stopped its server on the way out: its client port no longer answers.
    let port: u16 = text
        .split("clients: 127.0.0.1:")
        .nth(1)
        .and_then(|t| t.split(',').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no client port announced: {text}"));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
