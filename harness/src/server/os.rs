//! The few Linux calls that owning a child process needs and std does not offer: a parent-death
//! signal and CPU affinity set between fork and exec, the CPUs this process may use, and a
//! signal sent to a PID.
//!
//! They are libc calls, hence `unsafe`; the workspace denies `unsafe_code`, so each function
//! below allows it locally and says why the call is sound. Nothing else in `server` is unsafe.

use std::io;
use std::mem;

/// A CPU set ready to hand to the child: built before `fork`, because the code that runs between
/// `fork` and `exec` must not allocate.
#[derive(Clone, Copy)]
pub struct CpuSet(libc::cpu_set_t);

impl std::fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CpuSet").field(&members(&self.0)).finish()
    }
}

#[allow(unsafe_code)]
fn members(set: &libc::cpu_set_t) -> Vec<usize> {
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET reads one bit of `set`; `c` stays below CPU_SETSIZE.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, set) })
        .collect()
}

#[allow(unsafe_code)]
fn add(set: &mut libc::cpu_set_t, cpu: usize) {
    assert!(
        cpu < libc::CPU_SETSIZE as usize,
        "CPU {cpu} beyond CPU_SETSIZE"
    );
    // SAFETY: CPU_SET writes one bit of `set`; `cpu` was just checked to be in range.
    unsafe { libc::CPU_SET(cpu, set) }
}

fn empty_set() -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
    #[allow(unsafe_code)]
    unsafe {
        mem::zeroed()
    }
}

/// The CPUs this process may run on (its affinity mask), in ascending order.
#[allow(unsafe_code)]
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    let mut set = empty_set();
    // SAFETY: the kernel writes at most `size_of::<cpu_set_t>()` bytes into `set`, which we own.
    let rc = unsafe { libc::sched_getaffinity(0, mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(members(&set))
}

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
        let mut set = empty_set();
        for &c in cpus {
            if !allowed.contains(&c) {
                return Err(format!("CPU {c} is not available; allowed: {allowed:?}"));
            }
            add(&mut set, c);
        }
        Ok(CpuSet(set))
    }
}

/// Makes `cmd`'s child owned by this process: it gets SIGKILL when the spawning thread's process
/// dies (also by `kill -9`), and runs on `cpus` from its first instruction on.
#[allow(unsafe_code)]
pub fn own_child_before_exec(cmd: &mut tokio::process::Command, cpus: Option<CpuSet>) {
    let parent = own_pid();
    // SAFETY: the closure runs between fork and exec; it allocates nothing (the CpuSet was built
    // before fork) and calls only async-signal-safe functions (prctl, getppid, sched_setaffinity).
    unsafe {
        cmd.pre_exec(move || in_child_before_exec(parent, cpus.as_ref()));
    }
}

/// Runs in the child between `fork` and `exec` (so: no allocation, async-signal-safe calls only).
/// Asks for SIGKILL when the parent dies, so a `kill -9` of the harness takes the server with it;
/// fails if the parent is already gone; then applies `cpus`.
#[allow(unsafe_code)]
fn in_child_before_exec(parent: libc::pid_t, cpus: Option<&CpuSet>) -> io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and touches only this process.
    if unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    // If the parent died before the prctl, the signal will never come: we were re-parented.
    // SAFETY: getppid has no arguments and cannot fail.
    if unsafe { libc::getppid() } != parent {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    if let Some(CpuSet(set)) = cpus {
        // SAFETY: `set` is a fully initialised cpu_set_t of the size we pass.
        let rc = unsafe { libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), set) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Sends SIGTERM to `pid`. The caller must know `pid` is its own, not yet reaped, child (so the
/// number cannot have been reused by another process).
#[allow(unsafe_code)]
pub fn terminate(pid: u32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: kill takes two integers; the caller guarantees the target is its unreaped child.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// This process's id as the type `getppid` returns.
pub fn own_pid() -> libc::pid_t {
    // Process ids fit pid_t by construction (the kernel caps them well below i32::MAX).
    libc::pid_t::try_from(std::process::id()).unwrap_or(libc::pid_t::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_sets_accept_allowed_cpus_and_name_a_missing_one() {
        let allowed = allowed_cpus().unwrap();
        assert!(!allowed.is_empty());
        let set = CpuSet::new(&allowed[..1]).unwrap();
        assert_eq!(members(&set.0), allowed[..1]);
        let err = CpuSet::new(&[100_000]).unwrap_err();
        assert!(err.contains("CPU 100000"), "{err}");
        assert!(CpuSet::new(&[]).is_err());
    }
}
