//! The few Linux calls that owning a child process needs and std does not offer: a parent-death
//! signal and CPU affinity set between fork and exec, and a signal sent to a PID.
//!
//! The system calls are nix's safe wrappers. The one `unsafe` left is std's `pre_exec` itself:
//! the workspace denies `unsafe_code`, so that function allows it locally and says why the hook
//! is sound. The CPU mask is nix's, the same [`crate::affinity`] pins this process with. Nothing
//! else in `server` is unsafe.

use std::io;

use nix::sys::prctl;
use nix::sys::signal::{self, Signal};
use nix::unistd::{self, Pid};

/// A CPU set ready to hand to the child: built before `fork`, because the code that runs between
/// `fork` and `exec` must not allocate. The same mask type [`crate::affinity`] pins with.
#[derive(Debug, Clone, Copy)]
pub struct CpuSet(nix::sched::CpuSet);

impl CpuSet {
    /// A set of the given CPUs. Fails naming the first CPU the machine does not have online,
    /// and on an empty list. The machine's CPUs, not this process's affinity: a load generator
    /// pinned to CPU 1 still places its server on CPU 0.
    pub fn new(cpus: &[usize]) -> Result<CpuSet, String> {
        let allowed: Vec<usize> = crate::affinity::online()
            .into_iter()
            .map(|c| c as usize)
            .collect();
        if cpus.is_empty() {
            return Err("an empty CPU list".into());
        }
        let mut set = nix::sched::CpuSet::new();
        for &c in cpus {
            if !allowed.contains(&c) {
                return Err(format!("CPU {c} is not available; allowed: {allowed:?}"));
            }
            set.set(c)
                .map_err(|e| format!("CPU {c} cannot be named in an affinity mask: {e}"))?;
        }
        Ok(CpuSet(set))
    }
}

/// Makes `cmd`'s child owned by this process: it gets SIGKILL when the spawning thread's process
/// dies (also by `kill -9`), and runs on `cpus` from its first instruction on.
#[allow(unsafe_code)]
pub fn own_child_before_exec(cmd: &mut tokio::process::Command, cpus: Option<CpuSet>) {
    let parent = unistd::getpid();
    // SAFETY: the closure runs between fork and exec; it allocates nothing (the CpuSet was built
    // before fork) and calls only async-signal-safe functions (prctl, getppid, sched_setaffinity,
    // each a single system call through nix).
    unsafe {
        cmd.pre_exec(move || in_child_before_exec(parent, cpus.as_ref()));
    }
}

/// Runs in the child between `fork` and `exec` (so: no allocation, async-signal-safe calls only).
/// Asks for SIGKILL when the parent dies, so a `kill -9` of the harness takes the server with it;
/// fails if the parent is already gone; then applies `cpus`.
fn in_child_before_exec(parent: Pid, cpus: Option<&CpuSet>) -> io::Result<()> {
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
    // If the parent died before the prctl, the signal will never come: we were re-parented.
    if unistd::getppid() != parent {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    if let Some(CpuSet(set)) = cpus {
        // sched_setaffinity is one system call on a mask built before fork: nothing allocates.
        nix::sched::sched_setaffinity(Pid::from_raw(0), set).map_err(io::Error::from)?;
    }
    Ok(())
}

/// Sends SIGTERM to `pid`. The caller must know `pid` is its own, not yet reaped, child (so the
/// number cannot have been reused by another process).
pub fn terminate(pid: u32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    signal::kill(Pid::from_raw(pid), Signal::SIGTERM).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_sets_accept_allowed_cpus_and_name_a_missing_one() {
        let allowed = crate::affinity::current();
        assert!(!allowed.is_empty());
        let first = allowed[0] as usize;
        let set = CpuSet::new(&[first]).unwrap();
        assert!(set.0.is_set(first).unwrap());
        let err = CpuSet::new(&[100_000]).unwrap_err();
        assert!(err.contains("CPU 100000"), "{err}");
        assert!(CpuSet::new(&[]).is_err());
    }
}
