//! [`ManagedProgram`]: a running program we own, from its prepared folder to its last process.

use std::collections::VecDeque;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::sys::signal::Signal;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::task::JoinHandle;

use crate::spec::expand;
use crate::{ProgramError, ProgramSpec, os, procfs, ready};

/// Lines of the program's stderr kept for error messages.
const STDERR_TAIL_LINES: usize = 20;
/// How long a SIGKILLed process may take to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// The guard: waits for its stdin (a pipe only we hold) to close, then kills its process group,
/// which is the program's. The kernel closes the pipe when we exit, however we exit.
const GUARD_SCRIPT: &str = "read -r line; kill -KILL 0";

/// How a program ended.
#[derive(Debug, Clone)]
pub struct Stopped {
    /// The main process's exit status.
    pub status: ExitStatus,
    /// Whether it ignored SIGTERM for the whole grace period and the group was killed.
    pub forced: bool,
    /// Every process of the program seen while stopping it (main process and workers).
    pub pids: Vec<u32>,
}

/// A running program. Dropping it kills its whole process group.
#[derive(Debug)]
pub struct ManagedProgram {
    name: &'static str,
    main: Child,
    pid: u32,
    guard: Child,
    guard_pipe: Option<ChildStdin>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    drain: Option<JoinHandle<()>>,
    dir: TempDir,
    stopped: bool,
}

impl ManagedProgram {
    /// Checks the program is installed, prepares its folder, starts it in a process group of
    /// its own with its guard, and returns once it is ready (or fails, having killed it).
    pub async fn start(spec: &ProgramSpec) -> Result<ManagedProgram, ProgramError> {
        let exe = spec.resolve()?;
        let dir = prepare(spec)?;
        let cpus = spec.cpus.as_deref().map(os::CpuSet::new).transpose();
        let cpus = cpus.map_err(|source| ProgramError::Spawn {
            name: spec.name,
            source,
        })?;
        let mut cmd = Command::new(&exe);
        cmd.args(spec.args.iter().map(|a| expand(a, dir.path())))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        os::lead_own_group(&mut cmd, cpus);
        let spawn_err = |source| ProgramError::Spawn {
            name: spec.name,
            source,
        };
        let mut main = cmd.spawn().map_err(spawn_err)?;
        let pid = main.id().unwrap_or_default();
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let drain = main
            .stderr
            .take()
            .map(|err| tokio::spawn(keep_tail(err, stderr.clone())));
        let mut guard = match start_guard(pid) {
            Ok(g) => g,
            Err(e) => {
                let _ = os::kill_group(pid);
                let _ = tokio::time::timeout(KILL_WAIT, main.wait()).await;
                return Err(spawn_err(e));
            }
        };
        let guard_pipe = guard.stdin.take();
        let mut program = ManagedProgram {
            name: spec.name,
            main,
            pid,
            guard,
            guard_pipe,
            stderr,
            drain,
            dir,
            stopped: false,
        };
        if let Err(reason) = program.wait_ready(spec).await {
            let stderr = program.kill_now().await;
            return Err(ProgramError::NotReady {
                name: spec.name,
                reason,
                stderr,
            });
        }
        Ok(program)
    }

    /// Waits for readiness, racing the program's exit and the startup bound.
    async fn wait_ready(&mut self, spec: &ProgramSpec) -> Result<(), String> {
        let bound = spec.startup_timeout;
        tokio::select! {
            r = tokio::time::timeout(bound, ready::until_ready(&spec.ready)) => {
                r.map_err(|_| format!("no answer at {:?} within {bound:?}", spec.ready))
            }
            status = self.main.wait() => Err(match status {
                Ok(s) => format!("it exited during startup ({s})"),
                Err(e) => format!("waiting for it: {e}"),
            }),
        }
    }

    /// Kills the group and reaps both children, returning the last stderr lines (which the
    /// drain has read to the end once the process is gone).
    async fn kill_now(&mut self) -> Vec<String> {
        self.stopped = true;
        let _ = os::kill_group(self.pid);
        let _ = tokio::time::timeout(KILL_WAIT, self.main.wait()).await;
        self.guard_pipe = None;
        let _ = tokio::time::timeout(KILL_WAIT, self.guard.wait()).await;
        // The pipe is closed once every process of the group is gone: read its last lines.
        if let Some(drain) = self.drain.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
        }
        self.stderr_tail()
    }

    /// The program's main process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Every live process of the program (main process and those it forked, not the guard).
    pub fn pids(&self) -> Vec<u32> {
        let guard = self.guard.id();
        procfs::group_members(self.pid)
            .into_iter()
            .filter(|&p| Some(p) != guard)
            .collect()
    }

    /// The program's folder (config, logs, data).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The program's last stderr lines.
    pub fn stderr_tail(&self) -> Vec<String> {
        let lines = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        lines.iter().cloned().collect()
    }

    /// Stops the program: SIGTERM to the main process, up to `grace` for it to exit, then
    /// SIGKILL to the group; then the guard goes too. Always reaps what it started.
    pub async fn shutdown(mut self, grace: Duration) -> Result<Stopped, ProgramError> {
        let (name, pid) = (self.name, self.pid);
        let stop_err = |source| ProgramError::Stop { name, pid, source };
        let pids = self.pids();
        self.stopped = true;
        if self.main.id().is_some() {
            os::signal_pid(pid, Signal::SIGTERM).map_err(stop_err)?;
        }
        let (status, forced) = match tokio::time::timeout(grace, self.main.wait()).await {
            Ok(status) => (status.map_err(stop_err)?, false),
            Err(_) => {
                os::kill_group(pid).map_err(stop_err)?;
                let waited = tokio::time::timeout(KILL_WAIT, self.main.wait()).await;
                let status = waited.map_err(|_| stop_err(std::io::ErrorKind::TimedOut.into()))?;
                (status.map_err(stop_err)?, true)
            }
        };
        // Workers that outlived their master (they should not) and the guard go with the group;
        // the guard, still unreaped, keeps the group id from being reused until then.
        os::kill_group(pid).map_err(stop_err)?;
        self.guard_pipe = None;
        let _ = tokio::time::timeout(KILL_WAIT, self.guard.wait()).await;
        Ok(Stopped {
            status,
            forced,
            pids,
        })
    }
}

impl Drop for ManagedProgram {
    fn drop(&mut self) {
        if !self.stopped {
            // A panic or an early return: nothing may outlive the owner.
            let _ = os::kill_group(self.pid);
        }
    }
}

/// Creates the folder, its sub-folders and files.
fn prepare(spec: &ProgramSpec) -> Result<TempDir, ProgramError> {
    let failed = |dir: &Path, source| ProgramError::Prepare {
        name: spec.name,
        dir: dir.to_owned(),
        source,
    };
    let tmp = std::env::temp_dir();
    let dir = tempfile::Builder::new()
        .prefix(&format!("transport-bench-{}-", spec.name))
        .tempdir()
        .map_err(|e| failed(&tmp, e))?;
    let path = dir.path().to_owned();
    for sub in &spec.dirs {
        std::fs::create_dir_all(path.join(sub)).map_err(|e| failed(&path, e))?;
    }
    for (name, contents) in &spec.files {
        std::fs::write(path.join(name), expand(contents, &path)).map_err(|e| failed(&path, e))?;
    }
    Ok(dir)
}

/// Starts the guard in process group `group`, its stdin a pipe only we hold.
fn start_guard(group: u32) -> std::io::Result<Child> {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", GUARD_SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    os::join_group(&mut cmd, group);
    cmd.spawn()
}

/// Reads `from` to its end, keeping the last [`STDERR_TAIL_LINES`] lines.
async fn keep_tail(from: impl AsyncRead + Unpin, into: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(from).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut t = into.lock().unwrap_or_else(PoisonError::into_inner);
        if t.len() == STDERR_TAIL_LINES {
            t.pop_front();
        }
        t.push_back(line);
    }
}
