//! CPU placement: pinning this process (and every thread it starts afterwards) to a set of
//! CPUs, so "server on one core, load on the other" is a repeatable layout on a small machine
//! instead of whatever the scheduler picked for each run.

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;

/// Restricts the calling thread to `cpus`. Threads it starts afterwards inherit the mask, so
/// call it before building a runtime or spawning helpers.
pub fn pin_current(cpus: &[u32]) -> Result<(), String> {
    let mut set = CpuSet::new();
    for &cpu in cpus {
        set.set(cpu as usize)
            .map_err(|e| format!("CPU {cpu} cannot be named in an affinity mask: {e}"))?;
    }
    sched_setaffinity(Pid::from_raw(0), &set)
        .map_err(|e| format!("cannot pin to CPUs {cpus:?}: {e}"))
}

/// The CPUs the calling thread may run on.
pub fn current() -> Vec<u32> {
    let Ok(set) = sched_getaffinity(Pid::from_raw(0)) else {
        return Vec::new();
    };
    (0..CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .map(|c| c as u32)
        .collect()
}

/// The CPUs online on this machine (`/sys/devices/system/cpu/online`, e.g. `0-1,4`): what
/// `cpus` may name.
pub fn online() -> Vec<u32> {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|text| parse_cpu_list(text.trim()))
        .unwrap_or_else(|| {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            (0..n as u32).collect()
        })
}

/// Parses the kernel's CPU list format (`0-3,6,8-9`).
fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<u32>().ok()?..=b.parse::<u32>().ok()?),
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kernels_cpu_list() {
        assert_eq!(parse_cpu_list("0-1"), Some(vec![0, 1]));
        assert_eq!(parse_cpu_list("0-2,5,7-8"), Some(vec![0, 1, 2, 5, 7, 8]));
        assert_eq!(parse_cpu_list("x"), None);
        assert!(!online().is_empty());
    }

    #[test]
    fn a_pinned_thread_reports_its_cpus_and_its_children_inherit_them() {
        let first = *current().first().expect("some CPU is allowed");
        std::thread::spawn(move || {
            pin_current(&[first]).unwrap();
            assert_eq!(current(), vec![first]);
            let inherited = std::thread::spawn(current).join().unwrap();
            assert_eq!(
                inherited,
                vec![first],
                "threads started later inherit the mask"
            );
        })
        .join()
        .unwrap();
    }
}
