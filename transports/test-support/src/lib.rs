//! Helpers the transports' tests share across crates, so each exists once: bounded waits,
//! generic traffic over any [`transport_core::Transport`] ([`traffic`]: servers, client pairs,
//! publish loops and receive loops that collect sequence numbers), the `kcat` runner the
//! pull-log client's and the broker's interop tests both use, and [`peers`]: whether a program
//! outside cargo is here, and the one skip line when it is not.
//!
//! A dev-dependency only: nothing here may end up in a benchmark binary. Test helpers panic
//! on failure, because a failure here is the test failing.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

pub mod claims;
pub mod peers;
pub mod procs;
pub mod traffic;

/// The default bound on one awaited step of a test. Loopback steps take microseconds; 10 s
/// leaves room for a loaded 2-core machine yet fails a hung test quickly. A test whose steps
/// legitimately take longer passes its own limit to [`bounded_for`].
pub const BOUND: Duration = Duration::from_secs(10);

/// How long one kcat invocation may take before the test fails.
pub const KCAT_BOUND: Duration = Duration::from_secs(30);

/// Awaits `f` for at most [`BOUND`], panicking with `what` otherwise.
pub async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    bounded_for(BOUND, what, f).await
}

/// Awaits `f` for at most `limit`, panicking with `what` otherwise.
pub async fn bounded_for<F: Future>(limit: Duration, what: &str, f: F) -> F::Output {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {limit:?}"))
}

/// Runs kcat (librdkafka's command-line client) with `args`, feeding it `stdin`; returns its
/// stdout. Fails the test clearly when kcat fails or runs past [`KCAT_BOUND`]; a test checks
/// `peers::present(&peers::KCAT)` first, so that a machine without kcat skips it.
pub async fn kcat(args: &[&str], stdin: &str) -> String {
    let mut child = match Command::new("kcat")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "kcat is not installed; check `peers::present(&peers::KCAT)` before calling this"
        ),
        Err(e) => panic!("cannot run kcat: {e}"),
    };
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = bounded_for(
        KCAT_BOUND,
        &format!("kcat {args:?}"),
        child.wait_with_output(),
    )
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "kcat {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The lines of `s`, owned (kcat prints one record per line).
pub fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_owned).collect()
}

/// The commands of the `<!-- curl-session -->` block in `crate_dir/README.md`, each with the
/// output its `# →` lines promise (transport READMEs document their HTTP API as curl sessions).
pub fn readme_curl_session(crate_dir: &str) -> Vec<(String, String)> {
    let path = std::path::Path::new(crate_dir).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md is readable");
    let block = readme
        .split("<!-- curl-session -->\n```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("README.md has a curl session block");
    let mut steps: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if let Some(out) = line.strip_prefix("# → ") {
            let (_, expected) = steps.last_mut().expect("output follows a command");
            expected.push_str(out);
            expected.push(' ');
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            steps.push((line.to_owned(), String::new()));
        }
    }
    steps
}

/// `s` with every run of whitespace made one space, for comparing command output.
pub fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
