//! The Chromium process a browser run owns: finding the binary, starting it headless with the
//! DevTools endpoint on an ephemeral port, and making sure it dies with the run.
//!
//! Ownership: the browser gets its own process group (Chromium forks zygote, renderer and
//! utility processes) and a parent-death SIGKILL, so neither a panic, nor Ctrl-C, nor
//! `kill -9` of the harness leaves a browser behind. [`Chromium`]'s `Drop` kills the whole group
//! and removes the temporary profile directory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};

/// Environment variable naming the Chromium binary (overrides the `PATH` search).
pub const CHROMIUM_ENV: &str = "TRANSPORT_BENCH_CHROMIUM";
/// Names searched on `PATH` when [`CHROMIUM_ENV`] is unset.
const NAMES: &[&str] = &["chromium", "chromium-browser"];
/// Bound on Chromium printing its DevTools address.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// Why no browser could be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// No Chromium binary on this machine: bad input (exit 2), with the package to install.
    #[error(
        "browser subscribers need Chromium, and {0}; install it with `apt-get install chromium` \
         (Debian/Ubuntu package `chromium`), or point {CHROMIUM_ENV} at a Chromium binary"
    )]
    NotInstalled(String),
    /// Chromium is there but did not come up.
    #[error("Chromium ({path}) did not start: {reason}{tail}")]
    Startup {
        /// The binary.
        path: PathBuf,
        /// What went wrong.
        reason: String,
        /// Its last stderr lines, if any.
        tail: String,
    },
}

/// Finds the Chromium binary: [`CHROMIUM_ENV`] if set (it must exist), else `chromium` or
/// `chromium-browser` on `PATH`.
pub fn locate() -> Result<PathBuf, LaunchError> {
    if let Some(p) = std::env::var_os(CHROMIUM_ENV) {
        let p = PathBuf::from(p);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(LaunchError::NotInstalled(format!(
                "{CHROMIUM_ENV}={} is not an executable file",
                p.display()
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| NAMES.iter().map(move |n| dir.join(n)))
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            LaunchError::NotInstalled(format!("none of {} is on PATH", NAMES.join(", ")))
        })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A running headless Chromium, killed (with every process it started) when dropped.
#[derive(Debug)]
pub struct Chromium {
    child: Child,
    /// Its process group (the browser's own pid).
    group: Option<i32>,
    profile: PathBuf,
    /// The browser-level DevTools WebSocket URL.
    pub devtools_url: String,
}

/// The flags every run uses. Headless as root needs `--no-sandbox`; the background-networking
/// flags stop Chromium from flooding a closed network with update and sync requests; the
/// throttling flags keep timers of a page nobody looks at running at full speed. Over TLS,
/// `spki` (the base64 SHA-256 of the server key's SubjectPublicKeyInfo) is the one key
/// Chromium trusts beyond its own roots: no blanket certificate bypass.
fn flags(profile: &Path, spki: Option<&str>) -> Vec<String> {
    let fixed = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--disable-background-timer-throttling",
        "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows",
        "--mute-audio",
        // The page is served by DevTools interception, which gives it no IP address space, so
        // Local Network Access checks would block its loopback sockets; a page the server
        // served itself would be loopback-to-loopback, which those checks allow.
        "--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests",
        "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1",
    ];
    let mut v: Vec<String> = fixed.iter().map(|s| (*s).to_owned()).collect();
    v.push(format!("--user-data-dir={}", profile.display()));
    if let Some(pin) = spki {
        v.push(format!("--ignore-certificate-errors-spki-list={pin}"));
    }
    v.push("about:blank".to_owned());
    v
}

/// Profile directories are named `PREFIX{pid}-{n}` after the harness process that made them.
const PROFILE_PREFIX: &str = "transport-bench-chromium-";

/// A fresh, empty profile directory under the system temp dir. Profiles left by a harness that
/// was killed (`kill -9` runs no destructor) are removed first.
fn fresh_profile() -> std::io::Result<PathBuf> {
    static N: AtomicU64 = AtomicU64::new(0);
    let tmp = std::env::temp_dir();
    remove_stale_profiles(&tmp);
    let dir = tmp.join(format!(
        "{PROFILE_PREFIX}{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Removes profiles whose harness process no longer exists.
fn remove_stale_profiles(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(PROFILE_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Chromium {
    /// Starts Chromium (trusting the server key `spki` pins, over TLS) and returns once it
    /// printed its DevTools address.
    pub async fn launch(spki: Option<&str>) -> Result<Chromium, LaunchError> {
        let path = locate()?;
        let fail = |reason: String, tail: String| LaunchError::Startup {
            path: path.clone(),
            reason,
            tail,
        };
        let profile = fresh_profile().map_err(|e| fail(format!("temp profile: {e}"), "".into()))?;
        let mut cmd = Command::new(&path);
        cmd.args(flags(&profile, spki))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        crate::server::os::own_child_before_exec(&mut cmd, None);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&profile);
                return Err(fail(e.to_string(), String::new()));
            }
        };
        let group = child.id().and_then(|id| i32::try_from(id).ok());
        let stderr = child.stderr.take();
        let mut browser = Chromium {
            child,
            group,
            profile,
            devtools_url: String::new(),
        };
        let Some(stderr) = stderr else {
            return Err(fail("no stderr pipe".into(), String::new()));
        };
        let found = tokio::time::timeout(STARTUP_TIMEOUT, devtools_url(stderr)).await;
        match found {
            Ok(Ok((url, rest))) => {
                browser.devtools_url = url;
                // Keep reading so Chromium never blocks on a full stderr pipe.
                tokio::spawn(async move {
                    let mut lines = rest.lines();
                    while let Ok(Some(_)) = lines.next_line().await {}
                });
                Ok(browser)
            }
            Ok(Err(seen)) => Err(fail(
                "it exited before printing its DevTools address".into(),
                format!("; its stderr ended with:\n{}", seen.join("\n")),
            )),
            Err(_) => Err(fail(
                format!("no DevTools address within {STARTUP_TIMEOUT:?}"),
                String::new(),
            )),
        }
    }

    fn kill_group(&mut self) {
        if let Some(g) = self.group.take() {
            // Only while the browser is unreaped is its pid (= the group id) surely still ours.
            if self.child.try_wait().ok().flatten().is_none() {
                kill_group(g);
            }
        }
        let _ = self.child.start_kill();
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        self.kill_group();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Reads stderr lines until `DevTools listening on ws://...`: the URL and the reader for the
/// rest, or (at the end of the output) the last lines seen.
async fn devtools_url(
    stderr: ChildStderr,
) -> Result<(String, BufReader<ChildStderr>), Vec<String>> {
    let mut reader = BufReader::new(stderr);
    let mut seen = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return Err(seen),
            Ok(_) => {
                if let Some(url) = line.trim().strip_prefix("DevTools listening on ") {
                    return Ok((url.to_owned(), reader));
                }
                if seen.len() == 10 {
                    seen.remove(0);
                }
                seen.push(line.trim_end().to_owned());
            }
        }
    }
}

/// Sends SIGKILL to process group `group`: the browser's own (it was started with
/// `process_group(0)` and is not yet reaped). A failure means the group is already gone, which
/// is the outcome wanted, so it is ignored.
fn kill_group(group: i32) {
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(group),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_of_dead_harnesses_are_removed_and_live_ones_kept() {
        let tmp = std::env::temp_dir().join(format!("tb-profiles-{}", std::process::id()));
        // Pid 0 is never a process (no /proc/0); ours is alive.
        let dead = tmp.join(format!("{PROFILE_PREFIX}0-1"));
        let live = tmp.join(format!("{PROFILE_PREFIX}{}-1", std::process::id()));
        std::fs::create_dir_all(&dead).unwrap();
        std::fs::create_dir_all(&live).unwrap();
        remove_stale_profiles(&tmp);
        assert!(!dead.exists() && live.exists());
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn flags_include_the_profile_and_no_sandbox() {
        let f = flags(Path::new("/tmp/x"), None);
        assert!(f.contains(&"--no-sandbox".to_owned()));
        assert!(f.contains(&"--user-data-dir=/tmp/x".to_owned()));
        assert!(f.contains(&"--remote-debugging-port=0".to_owned()));
        assert!(!f.iter().any(|a| a.contains("certificate")));
    }

    #[test]
    fn over_tls_only_the_pinned_key_is_trusted() {
        let f = flags(Path::new("/tmp/x"), Some("AAAA="));
        assert!(f.contains(&"--ignore-certificate-errors-spki-list=AAAA=".to_owned()));
        assert!(!f.contains(&"--ignore-certificate-errors".to_owned()));
    }
}
