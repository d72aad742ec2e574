//! Programs outside cargo that interop tests drive (kcat, curl, Chromium, Python's `websockets`,
//! nginx with Nchan, nats-server, redis-server, mosquitto, root with `ip` for network namespaces), checked in one place.
//!
//! `cargo test --workspace` must pass on a machine with only the Rust toolchain, yet CI must run
//! every interop test for real. So a test asks [`present`] at its start: when the program is
//! there it runs; when it is missing the test prints one line naming itself, the program and
//! the command that installs it, then returns; and when `TRANSPORT_BENCH_REQUIRE_PEERS=1` is set
//! (CI sets it) the same absence fails the test instead of skipping it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Set to `1` to turn every "peer missing" skip into a failure.
pub const REQUIRE_ENV: &str = "TRANSPORT_BENCH_REQUIRE_PEERS";

/// Overrides the Python interpreter the tests use (default: the venv `install-peers.sh` makes
/// under the target folder, else `python3` on `PATH`).
pub const PYTHON_ENV: &str = "TRANSPORT_BENCH_PYTHON";

/// The Chromium binary the harness uses, when set (the harness reads the same variable).
pub const CHROMIUM_ENV: &str = "TRANSPORT_BENCH_CHROMIUM";

/// A program (or capability) outside cargo that some test needs.
pub struct Peer {
    /// What the skip line calls it.
    pub name: &'static str,
    /// How to install it by hand; `scripts/install-peers.sh` installs every peer.
    pub install: &'static str,
    /// Why it is unusable here, or `None` when it is usable.
    check: fn() -> Option<String>,
}

/// librdkafka's command-line Kafka client.
pub const KCAT: Peer = Peer {
    name: "kcat",
    install: "apt-get install -y kcat",
    check: || runs("kcat", &["-V"]),
};

/// curl, which the READMEs' HTTP sessions use.
pub const CURL: Peer = Peer {
    name: "curl",
    install: "apt-get install -y curl",
    check: || runs("curl", &["--version"]),
};

/// curl built with HTTP/2 (nghttp2), for `--http2` and `--http2-prior-knowledge`.
pub const CURL_HTTP2: Peer = Peer {
    name: "curl with HTTP/2",
    install: "apt-get install -y curl",
    check: curl_http2_missing,
};

/// A headless-capable Chromium for browser subscribers.
pub const CHROMIUM: Peer = Peer {
    name: "chromium",
    install: "apt-get install -y chromium",
    check: chromium_missing,
};

/// Python 3 (the perf report script).
pub const PYTHON3: Peer = Peer {
    name: "python3",
    install: "apt-get install -y python3",
    check: || runs(&python().to_string_lossy(), &["--version"]),
};

/// Python 3 with the `websockets` package: a standard WebSocket client.
pub const PYTHON_WEBSOCKETS: Peer = Peer {
    name: "python3 with the `websockets` package",
    install: "python3 -m venv target/peers-venv && target/peers-venv/bin/pip install websockets",
    check: || {
        runs(
            &python().to_string_lossy(),
            &["-c", "import websockets.sync.client"],
        )
    },
};

/// nginx with the Nchan module (Debian's module path), a pub/sub server the runner starts.
pub const NCHAN: Peer = Peer {
    name: "nginx with the Nchan module",
    install: "apt-get install -y nginx-light libnginx-mod-nchan",
    check: || {
        runs("nginx", &["-v"]).or_else(|| {
            let module = "/usr/lib/nginx/modules/ngx_nchan_module.so";
            (!Path::new(module).is_file()).then(|| format!("{module} is missing"))
        })
    },
};

/// redis-server, the Redis the runner starts for `redis-pubsub` and `redis-streams`.
pub const REDIS: Peer = Peer {
    name: "redis-server",
    install: "apt-get install -y redis-server",
    check: || runs("redis-server", &["--version"]),
};

/// mosquitto, the MQTT broker the runner starts for `mqtt`.
pub const MOSQUITTO: Peer = Peer {
    name: "mosquitto",
    install: "apt-get install -y mosquitto",
    // `mosquitto -h` exits 3, so being on PATH is the check.
    check: || {
        on_path("mosquitto")
            .is_none()
            .then(|| "mosquitto is not on PATH".to_owned())
    },
};

/// nats-server (with JetStream), a broker the runner starts for the `nats-*` transports.
pub const NATS: Peer = Peer {
    name: "nats-server",
    install: "apt-get install -y nats-server",
    check: || runs("nats-server", &["--version"]),
};

/// Root and iproute2's `ip`: network namespaces and veth pairs.
pub const NETNS: Peer = Peer {
    name: "root and `ip` (network namespaces)",
    install: "apt-get install -y iproute2, and run the tests as root",
    check: netns_missing,
};

/// Whether `peer` is usable. When it is not: fails the test if [`REQUIRE_ENV`] is `1`, else
/// prints the skip line and returns `false` (the caller then returns).
pub fn present(peer: &Peer) -> bool {
    let Some(why) = (peer.check)() else {
        return true;
    };
    let line = skip_line(&test_name(), peer, &why);
    if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") {
        panic!("{line} ({REQUIRE_ENV}=1 makes a missing peer a failure)");
    }
    announce(&line);
    false
}

/// The one line a skipped test prints.
fn skip_line(test: &str, peer: &Peer, why: &str) -> String {
    format!(
        "SKIPPED {test}: needs {} ({why}); install: `{}` or `scripts/install-peers.sh`",
        peer.name, peer.install
    )
}

/// The running test's name: libtest names each test's thread after it.
fn test_name() -> String {
    std::thread::current().name().unwrap_or("a test").to_owned()
}

/// Prints `line` past libtest's output capture, so a user sees what did not run without
/// `--nocapture`: the capture takes what `eprintln!` prints, while a write to the stderr
/// handle goes straight to file descriptor 2 (shared with cargo, so its offset too when the
/// output is redirected to a file).
fn announce(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// `None` when `program args` starts and exits 0, else why not.
fn runs(program: &str, args: &[&str]) -> Option<String> {
    match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => None,
        Ok(s) => Some(format!("`{program} {}` exited with {s}", args.join(" "))),
        Err(e) => Some(format!("`{program}` cannot run: {e}")),
    }
}

fn curl_http2_missing() -> Option<String> {
    let out = match Command::new("curl")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) => return Some(format!("`curl` cannot run: {e}")),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let features = text.lines().find(|l| l.starts_with("Features:"));
    let has = features.is_some_and(|l| l.split_whitespace().any(|f| f == "HTTP2"));
    (!has).then(|| "this curl lists no HTTP2 feature".to_owned())
}

fn chromium_missing() -> Option<String> {
    if let Some(path) = std::env::var_os(CHROMIUM_ENV) {
        return (!Path::new(&path).is_file())
            .then(|| format!("{CHROMIUM_ENV}={} is not a file", path.to_string_lossy()));
    }
    let found = ["chromium", "chromium-browser"]
        .iter()
        .any(|name| on_path(name).is_some());
    (!found).then(|| "neither chromium nor chromium-browser is on PATH".to_owned())
}

fn netns_missing() -> Option<String> {
    // The effective uid is the second field of `Uid:` in /proc/self/status.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1));
    if euid != Some("0") {
        return Some("not running as root; namespaces need CAP_SYS_ADMIN".into());
    }
    runs("ip", &["-V"])
}

/// The first executable file called `name` in `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The Python interpreter the tests run: [`PYTHON_ENV`], else the venv `install-peers.sh`
/// made under the target folder, else `python3`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os(PYTHON_ENV) {
        return p.into();
    }
    let venv = target_dir().join("peers-venv/bin/python3");
    if venv.is_file() {
        return venv;
    }
    "python3".into()
}

/// The workspace's target folder: `CARGO_TARGET_DIR` when set, else `<workspace>/target`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABSENT: Peer = Peer {
        name: "no-such-program",
        install: "apt-get install -y no-such-program",
        check: || runs("transport-bench-no-such-program", &[]),
    };

    #[test]
    fn a_missing_program_is_found_missing_and_named() {
        let why = (ABSENT.check)().expect("the program does not exist");
        let line = skip_line("t::x", &ABSENT, &why);
        assert!(
            line.starts_with("SKIPPED t::x: needs no-such-program"),
            "{line}"
        );
        assert!(
            line.contains("apt-get install -y no-such-program"),
            "{line}"
        );
    }

    #[test]
    fn a_program_that_exists_is_present() {
        // `sh` is part of every system these tests run on.
        assert_eq!(runs("sh", &["-c", "exit 0"]), None);
        assert!(runs("sh", &["-c", "exit 3"]).is_some());
    }

    #[test]
    fn the_test_name_comes_from_the_thread() {
        assert!(test_name().ends_with("the_test_name_comes_from_the_thread"));
    }
}
