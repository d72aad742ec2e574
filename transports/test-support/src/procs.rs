//! Processes as tests see them through `/proc`: which run under a command name, which are a
//! process's children, whether one still runs, and bounded polling for a state to arrive
//! (a child's exit, a program's last worker gone) without sleeping as synchronisation.

use std::time::{Duration, Instant};

/// How often [`eventually`] asks again.
const POLL: Duration = Duration::from_millis(20);

/// Every pid in `/proc` with the `/proc/PID/<file>` text `read` returns for it.
fn scan(file: &str) -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            Some((
                pid,
                std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?,
            ))
        })
        .collect()
}

/// The fields of a `stat` line after the parenthesised command name (state first).
fn after_name(stat: &str) -> Option<&str> {
    stat.rfind(')').and_then(|i| stat.get(i + 2..))
}

/// Processes running now whose command name (`/proc/PID/comm`) is `comm`.
pub fn pids_named(comm: &str) -> Vec<u32> {
    scan("comm")
        .into_iter()
        .filter(|(_, name)| name.trim() == comm)
        .map(|(pid, _)| pid)
        .collect()
}

/// Pids of the processes whose parent is `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    scan("stat")
        .into_iter()
        .filter(|(_, stat)| {
            after_name(stat).and_then(|f| f.split(' ').nth(1)?.parse::<u32>().ok()) == Some(pid)
        })
        .map(|(child, _)| child)
        .collect()
}

/// Whether `pid` runs (exists and is not a zombie waiting to be reaped).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| after_name(&s).map(|f| !f.starts_with('Z')))
        .unwrap_or(false)
}

/// Polls `done` until it holds or `limit` passes; returns whether it held.
pub fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if done() {
            return true;
        }
        std::thread::sleep(POLL);
    }
    done()
}

/// Waits (bounded) until none of `pids` runs; returns those still running at the deadline.
pub fn still_running_after(pids: &[u32], bound: Duration) -> Vec<u32> {
    let running = || {
        pids.iter()
            .copied()
            .filter(|&p| alive(p))
            .collect::<Vec<_>>()
    };
    eventually(bound, || running().is_empty());
    running()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_found_by_name_and_as_its_parents_child() {
        let me = std::process::id();
        assert!(alive(me));
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert!(pids_named(comm.trim()).contains(&me));
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let parent: u32 = after_name(&stat)
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert!(children(parent).contains(&me));
        assert!(still_running_after(&[me], Duration::ZERO) == vec![me]);
    }
}
