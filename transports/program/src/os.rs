//! The Linux calls owning a program needs between `fork` and `exec`: its own process group, a
//! parent-death signal, CPU affinity, and joining another group (the guard). The one `unsafe`
//! is std's `pre_exec` itself; the workspace denies `unsafe_code`, so each hook allows it
//! locally and says why it is sound.

use std::io;

use nix::sys::prctl;
use nix::sys::signal::{self, Signal};
use nix::unistd::{self, Pid};

/// A CPU mask built before `fork` (code between `fork` and `exec` must not allocate).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuSet(nix::sched::CpuSet);

impl CpuSet {
    /// The set of `cpus`; fails naming a CPU that cannot be put in a mask.
    pub(crate) fn new(cpus: &[usize]) -> io::Result<CpuSet> {
        let mut set = nix::sched::CpuSet::new();
        for &c in cpus {
            set.set(c)
                .map_err(|e| io::Error::other(format!("CPU {c}: {e}")))?;
        }
        Ok(CpuSet(set))
    }
}

/// Makes `cmd` the leader of a new process group, killed when this process dies, on `cpus`.
#[allow(unsafe_code)]
pub(crate) fn lead_own_group(cmd: &mut tokio::process::Command, cpus: Option<CpuSet>) {
    let parent = unistd::getpid();
    // SAFETY: runs between fork and exec; allocates nothing (the mask was built before fork)
    // and makes only single system calls (setpgid, prctl, getppid, sched_setaffinity).
    unsafe {
        cmd.pre_exec(move || {
            unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0)).map_err(io::Error::from)?;
            prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
            // If we died before the prctl, the signal will never come: we were re-parented.
            if unistd::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            if let Some(CpuSet(set)) = cpus {
                nix::sched::sched_setaffinity(Pid::from_raw(0), &set).map_err(io::Error::from)?;
            }
            Ok(())
        });
    }
}

/// Makes `cmd` join process group `group` (the guard joins its program's group).
#[allow(unsafe_code)]
pub(crate) fn join_group(cmd: &mut tokio::process::Command, group: u32) {
    let group = Pid::from_raw(group as libc::pid_t);
    // SAFETY: runs between fork and exec; one system call, nothing allocated.
    unsafe {
        cmd.pre_exec(move || unistd::setpgid(Pid::from_raw(0), group).map_err(io::Error::from));
    }
}

/// Sends `sig` to `pid`, which the caller knows is its own child not yet reaped.
pub(crate) fn signal_pid(pid: u32, sig: Signal) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    signal::kill(Pid::from_raw(pid), sig).map_err(io::Error::from)
}

/// Sends SIGKILL to every process in `group`; a group already empty is not an error.
pub(crate) fn kill_group(group: u32) -> io::Result<()> {
    let group = libc::pid_t::try_from(group).map_err(io::Error::other)?;
    match signal::killpg(Pid::from_raw(group), Signal::SIGKILL) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
