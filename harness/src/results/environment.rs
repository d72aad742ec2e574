//! Where a result came from: enough about the machine, build and runtime that two results can
//! be judged comparable or not.

use std::process::Command;

use transport_core::SocketOptions;

use super::summary::Environment;

fn command_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn git_commit() -> String {
    let Some(head) = command_output("git", &["rev-parse", "HEAD"]) else {
        return "unknown".into();
    };
    let dirty = command_output("git", &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.is_empty());
    if dirty { format!("{head}-dirty") } else { head }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// This machine's host name ("unknown" when `hostname` cannot be run).
pub fn hostname() -> String {
    command_output("hostname", &[]).unwrap_or_else(|| "unknown".into())
}

/// Collects the environment for a run on a runtime of `worker_threads` threads.
pub fn collect(
    runtime_flavor: &str,
    worker_threads: usize,
    socket: SocketOptions,
    started_at: String,
) -> Environment {
    Environment {
        tool_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: git_commit(),
        rustc: option_env!("TB_RUSTC_VERSION").unwrap_or("unknown").into(),
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .into(),
        cpu_model: cpu_model(),
        // The machine's CPUs, not this process's affinity: a pinned load generator still ran
        // on a machine of this size.
        cpu_count: crate::affinity::online().len(),
        kernel: command_output("uname", &["-r"]).unwrap_or_else(|| "unknown".into()),
        os: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
        hostname: hostname(),
        runtime_flavor: runtime_flavor.into(),
        worker_threads,
        socket,
        started_at,
        placement: None,
    }
}
