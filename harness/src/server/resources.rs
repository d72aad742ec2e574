//! What a process costs the machine, read from `/proc`: CPU seconds (user and system), resident
//! memory now and at peak, threads, descriptors and sockets. The same reader serves the metrics
//! endpoint of `serve` (its own process) and the load generator's own figures (any PID).
//!
//! Linux only: elsewhere every read fails and callers report the figures as unavailable.

use std::fs;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One reading of a process's resources.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProcessResources {
    /// CPU time spent in user mode, seconds (`/proc/PID/stat` field 14).
    pub cpu_user_s: f64,
    /// CPU time spent in the kernel on the process's behalf, seconds (field 15).
    pub cpu_system_s: f64,
    /// Resident set size now, bytes (`VmRSS`).
    pub rss_bytes: u64,
    /// Peak resident set size, bytes (`VmHWM`).
    pub rss_peak_bytes: u64,
    /// Threads (`Threads`).
    pub threads: u64,
    /// Open file descriptors (entries of `/proc/PID/fd`).
    pub open_fds: u64,
    /// Open sockets among those descriptors (listeners included).
    pub open_sockets: u64,
}

impl ProcessResources {
    /// Total CPU seconds, user plus system (Prometheus' `process_cpu_seconds_total`).
    pub fn cpu_total_s(&self) -> f64 {
        self.cpu_user_s + self.cpu_system_s
    }

    /// Reads the calling process, with its CPU time exact to the nanosecond.
    ///
    /// `/proc` counts CPU in whole clock ticks (10 ms): over a 1.5 s window at a few thousand
    /// messages per second that is a 5% step in CPU per message, larger than the effects the
    /// regression gate looks for. The kernel derives utime and stime by splitting the process's
    /// exact run time in the tick-sampled proportion; the process CPU clock is that exact total,
    /// so the tick split is kept and the total is taken from the clock.
    pub fn of_self() -> io::Result<ProcessResources> {
        let ticks = Self::of_pid(std::process::id())?;
        let clock = nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
            .map_err(io::Error::from)?;
        let exact = clock.tv_sec() as f64 + clock.tv_nsec() as f64 * 1e-9;
        Ok(ticks.with_exact_cpu(exact))
    }

    /// The same reading with `total_s` CPU seconds split between user and system as the
    /// ticks split them (all user when no tick was charged yet).
    fn with_exact_cpu(self, total_s: f64) -> ProcessResources {
        let ticks = self.cpu_total_s();
        let user_share = if ticks > 0.0 {
            self.cpu_user_s / ticks
        } else {
            1.0
        };
        ProcessResources {
            cpu_user_s: total_s * user_share,
            cpu_system_s: total_s * (1.0 - user_share),
            ..self
        }
    }

    /// Reads process `pid`. Fails when it does not exist or `/proc` is unreadable.
    pub fn of_pid(pid: u32) -> io::Result<ProcessResources> {
        let dir = PathBuf::from(format!("/proc/{pid}"));
        let (utime, stime) = parse_stat_times(&fs::read_to_string(dir.join("stat"))?)?;
        let status = parse_status(&fs::read_to_string(dir.join("status"))?)?;
        let (open_fds, open_sockets) = count_fds(&dir)?;
        let tick = clock_ticks_per_second()?;
        Ok(ProcessResources {
            cpu_user_s: utime as f64 / tick as f64,
            cpu_system_s: stime as f64 / tick as f64,
            rss_bytes: status.rss_bytes,
            rss_peak_bytes: status.rss_peak_bytes,
            threads: status.threads,
            open_fds,
            open_sockets,
        })
    }
}

/// Whether process `pid` is still running: present in `/proc` and not a zombie (a zombie has
/// released everything but its table entry, and waits only for its parent to reap it).
pub fn is_running(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => process_state(&stat).is_some_and(|s| s != 'Z' && s != 'X'),
        Err(_) => false,
    }
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// The fields after `comm`: the command name is in parentheses and may itself hold spaces and
/// parentheses, so split after its *last* closing parenthesis.
fn after_comm(stat: &str) -> Option<&str> {
    stat.rfind(')').map(|i| stat[i + 1..].trim_start())
}

fn process_state(stat: &str) -> Option<char> {
    after_comm(stat)?.chars().next()
}

/// utime and stime in clock ticks: fields 14 and 15 of `/proc/PID/stat` (1-based), i.e. the
/// 12th and 13th after `comm` (field 2), counting the state (field 3) as the first.
fn parse_stat_times(stat: &str) -> io::Result<(u64, u64)> {
    let rest = after_comm(stat).ok_or_else(|| invalid("/proc stat without `(comm)`"))?;
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let mut next = |name: &str| -> io::Result<u64> {
        fields
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| invalid(format!("/proc stat without a numeric {name}")))
    };
    Ok((next("utime")?, next("stime")?))
}

struct Status {
    rss_bytes: u64,
    rss_peak_bytes: u64,
    threads: u64,
}

/// `VmRSS`, `VmHWM` (in kB, which the kernel means as KiB) and `Threads` from `/proc/PID/status`.
fn parse_status(status: &str) -> io::Result<Status> {
    let field = |key: &str| -> io::Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_ascii_whitespace().next()?.parse().ok())
            .ok_or_else(|| invalid(format!("/proc status without {key}")))
    };
    Ok(Status {
        rss_bytes: field("VmRSS")? * 1024,
        rss_peak_bytes: field("VmHWM")? * 1024,
        threads: field("Threads")?,
    })
}

/// Descriptors and, among them, sockets (their link reads `socket:[inode]`).
fn count_fds(dir: &std::path::Path) -> io::Result<(u64, u64)> {
    let (mut fds, mut sockets) = (0, 0);
    for entry in fs::read_dir(dir.join("fd"))? {
        let entry = entry?;
        fds += 1;
        // A descriptor closed between listing and reading is simply not a socket any more.
        if fs::read_link(entry.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:")) {
            sockets += 1;
        }
    }
    Ok((fds, sockets))
}

/// `sysconf(_SC_CLK_TCK)`: the unit of utime/stime (100 on every common Linux build, but the
/// kernel's word is the one to use).
fn clock_ticks_per_second() -> io::Result<u64> {
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).map_err(io::Error::from)?;
    ticks
        .and_then(|t| u64::try_from(t).ok())
        .filter(|&t| t > 0)
        .ok_or_else(|| invalid("sysconf(_SC_CLK_TCK) reported no tick rate"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_times_skip_a_command_name_with_spaces_and_parentheses() {
        // Fields 1..=15 with comm "(a) b)": utime 7, stime 9.
        let stat = "42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 7 9 0 0 20 0 1";
        assert_eq!(parse_stat_times(stat).unwrap(), (7, 9));
        assert_eq!(process_state(stat), Some('S'));
    }

    #[test]
    fn exact_cpu_keeps_the_tick_split() {
        let r = ProcessResources {
            cpu_user_s: 0.3,
            cpu_system_s: 0.1,
            rss_bytes: 1,
            rss_peak_bytes: 1,
            threads: 1,
            open_fds: 1,
            open_sockets: 0,
        };
        let e = r.with_exact_cpu(0.412_345_678);
        assert!((e.cpu_total_s() - 0.412_345_678).abs() < 1e-12);
        assert!((e.cpu_user_s / e.cpu_total_s() - 0.75).abs() < 1e-12);
        let fresh = ProcessResources {
            cpu_user_s: 0.0,
            cpu_system_s: 0.0,
            ..r
        };
        assert_eq!(fresh.with_exact_cpu(0.004).cpu_user_s, 0.004);
    }

    #[test]
    fn status_fields_are_read_in_bytes() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t3\n";
        let s = parse_status(status).unwrap();
        assert_eq!(
            (s.rss_bytes, s.rss_peak_bytes, s.threads),
            (1 << 20, 2 << 20, 3)
        );
        assert!(parse_status("Name:\tx\n").is_err());
    }

    #[test]
    fn own_process_is_plausible_and_sees_a_new_socket() {
        let before = ProcessResources::of_self().unwrap();
        assert!(before.rss_bytes > 0 && before.rss_peak_bytes >= before.rss_bytes);
        assert!(before.threads >= 1 && before.open_fds >= 3);
        let _listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let after = ProcessResources::of_self().unwrap();
        // Other tests in this binary may open and close sockets concurrently, so only the
        // reading itself is checked to count sockets at all.
        assert!(after.open_sockets >= 1);
        // Burn CPU until the kernel has charged at least one clock tick (bounded).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut x = 0u64;
        let mut later = ProcessResources::of_self().unwrap();
        while later.cpu_total_s() <= before.cpu_total_s() && std::time::Instant::now() < deadline {
            for _ in 0..1_000_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            later = ProcessResources::of_self().unwrap();
        }
        assert!(later.cpu_total_s() > before.cpu_total_s());
        assert!(is_running(std::process::id()));
        assert!(ProcessResources::of_pid(u32::MAX).is_err());
    }
}
