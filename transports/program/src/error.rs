//! Why a managed program could not be started or stopped.

use std::path::PathBuf;

/// What went wrong with a managed program. [`ProgramError::Missing`] is the machine's setup
/// (install the named packages); the rest are the program's or the system's behaviour.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    /// The executable or a file it needs is not installed.
    #[error(
        "{what} is missing; install the Debian packages {packages} \
         (`apt-get install -y {packages}` or `scripts/install-peers.sh`)"
    )]
    Missing {
        /// What was looked for, and where.
        what: String,
        /// The packages that provide it, space separated.
        packages: String,
    },
    /// Preparing its folder or config files failed.
    #[error("preparing {name}'s folder {dir}: {source}")]
    Prepare {
        /// The program.
        name: &'static str,
        /// The folder.
        dir: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The executable could not be started.
    #[error("starting {name}: {source}")]
    Spawn {
        /// The program.
        name: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// It started but did not become ready.
    #[error("{name} did not become ready: {reason}{}", stderr_suffix(.stderr))]
    NotReady {
        /// The program.
        name: &'static str,
        /// Exited, timed out, ...
        reason: String,
        /// Its last stderr lines.
        stderr: Vec<String>,
    },
    /// Signalling or waiting for it failed.
    #[error("stopping {name} (pid {pid}): {source}")]
    Stop {
        /// The program.
        name: &'static str,
        /// Its main pid.
        pid: u32,
        /// The OS error.
        source: std::io::Error,
    },
}

fn stderr_suffix(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; its stderr ends:\n  {}", lines.join("\n  "))
    }
}
