//! The description of a program to run: what to execute, what to write first, when it is ready.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ProgramError;

/// When a started program counts as ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    /// A TCP connection to this address is accepted.
    Tcp(SocketAddr),
    /// An HTTP/1.1 `GET path` to this address gets any status line back.
    Http {
        /// Where it listens.
        addr: SocketAddr,
        /// The path to ask for.
        path: String,
    },
}

/// How to run one program. `{dir}` in `args` and in file contents is replaced by the program's
/// fresh temporary folder (its prefix, data and log folder), which is removed after it stops.
#[derive(Debug, Clone)]
pub struct ProgramSpec {
    /// What messages call it (`nginx`).
    pub name: &'static str,
    /// The executable: a bare name is looked up on `PATH`, a path is used as it is.
    pub program: String,
    /// The Debian packages that provide it and its `required_files`, for the "missing" error.
    pub packages: &'static [&'static str],
    /// Files it needs besides the executable (a module it loads), checked before starting.
    pub required_files: Vec<PathBuf>,
    /// Its arguments.
    pub args: Vec<String>,
    /// Files to write into the folder first: path relative to the folder, and contents.
    pub files: Vec<(String, String)>,
    /// Sub-folders to create in the folder first (temp and data folders it expects).
    pub dirs: Vec<String>,
    /// When it is ready.
    pub ready: Ready,
    /// How long it may take to become ready.
    pub startup_timeout: Duration,
    /// CPUs it may run on (`[server] cpus`), from its first instruction on.
    pub cpus: Option<Vec<usize>>,
}

impl ProgramSpec {
    /// A spec running `program` with no arguments, ready when `127.0.0.1:0` would answer (set
    /// `ready`), with a 30 s startup bound.
    pub fn new(program: &'static str, packages: &'static [&'static str]) -> ProgramSpec {
        ProgramSpec {
            name: program,
            program: program.to_owned(),
            packages,
            required_files: Vec::new(),
            args: Vec::new(),
            files: Vec::new(),
            dirs: Vec::new(),
            ready: Ready::Tcp(SocketAddr::from(([127, 0, 0, 1], 0))),
            startup_timeout: Duration::from_secs(30),
            cpus: None,
        }
    }

    /// The packages, space separated, as `apt-get install` takes them.
    pub(crate) fn package_list(&self) -> String {
        self.packages.join(" ")
    }

    /// Checks that the executable and every required file are installed, without starting
    /// anything: a run checks this before any client connects.
    pub fn check(&self) -> Result<(), ProgramError> {
        self.resolve().map(drop)
    }

    /// The executable's path, after checking that it and every required file exist.
    pub(crate) fn resolve(&self) -> Result<PathBuf, ProgramError> {
        let missing = |what: String| ProgramError::Missing {
            what,
            packages: self.package_list(),
        };
        let exe = which(&self.program).ok_or_else(|| {
            missing(format!(
                "`{}` (not found as a file or on PATH)",
                self.program
            ))
        })?;
        if let Some(file) = self.required_files.iter().find(|f| !f.is_file()) {
            return Err(missing(format!(
                "{} (needed by {})",
                file.display(),
                self.name
            )));
        }
        Ok(exe)
    }
}

/// Replaces `{dir}` with `dir`.
pub(crate) fn expand(text: &str, dir: &Path) -> String {
    text.replace("{dir}", &dir.to_string_lossy())
}

/// Where `program` is: itself if it names a path, else the first executable of that name on
/// `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| executable(p))
}

/// A loopback port free right now, for a program that must be told its port. Another process
/// could take it before the program binds; the program then fails to start with its own
/// "address in use" message, which [`crate::ManagedProgram::start`] reports.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_names_its_packages() {
        let spec = ProgramSpec::new("surely-not-installed-xyz", &["pkg-a", "pkg-b"]);
        let err = spec.resolve().unwrap_err().to_string();
        assert!(err.contains("surely-not-installed-xyz"), "{err}");
        assert!(err.contains("pkg-a pkg-b"), "{err}");
    }

    #[test]
    fn a_missing_required_file_names_its_packages() {
        let spec = ProgramSpec {
            required_files: vec![PathBuf::from("/nonexistent/module.so")],
            ..ProgramSpec::new("sh", &["some-module"])
        };
        let err = spec.resolve().unwrap_err().to_string();
        assert!(
            err.contains("/nonexistent/module.so") && err.contains("some-module"),
            "{err}"
        );
    }

    #[test]
    fn sh_is_found_and_dir_expands() {
        assert!(which("sh").is_some());
        assert_eq!(expand("a {dir}/b", Path::new("/t")), "a /t/b");
    }
}
