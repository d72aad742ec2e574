//! What lets one host hold tens of thousands of connections: the open-file budget and the
//! spreading of client connections over loopback source addresses.
//!
//! A run checks its descriptor need before it connects anything, so a scenario that cannot fit
//! fails at once with exit 2 and the fix, instead of failing at subscriber 9,994 with EMFILE.

use std::net::{IpAddr, Ipv4Addr};

/// Descriptors the process needs beyond its connections: runtime, stdio, results files.
const BASE_DESCRIPTORS: u64 = 256;

/// Clients per loopback source address. The ephemeral range here is 32768–60999 (~28K ports per
/// source/destination pair); staying well below it leaves room for sockets in TIME_WAIT.
pub const CLIENTS_PER_SOURCE: u32 = 20_000;

/// The open-file limits after [`raise_nofile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimits {
    /// The soft limit: what this process may open now.
    pub soft: u64,
    /// The hard limit: how far an unprivileged process may raise `soft`.
    pub hard: u64,
}

/// Descriptors one run needs in this process: one per client socket, one more per client for
/// the server's end when the server shares the process, two more per client when the link
/// emulator relays it (its accepted and its upstream socket).
pub fn descriptors_needed(clients: u64, server_in_process: bool, proxied: bool) -> u64 {
    let per_client = 1 + u64::from(server_in_process) + 2 * u64::from(proxied);
    BASE_DESCRIPTORS + clients * per_client
}

/// Raises the soft open-file limit to the hard one, and the hard one too (as far as
/// `fs.nr_open` allows) when `need` exceeds it and the process may (root). Then checks `need`
/// fits: the error names the limit, the need and the fix.
pub fn raise_nofile(need: u64) -> Result<FdLimits, String> {
    let (soft, hard) = rlimit::Resource::NOFILE
        .get()
        .map_err(|e| format!("cannot read the open-file limit: {e}"))?;
    let mut limits = FdLimits { soft, hard };
    if need > hard {
        let ceiling = nr_open().unwrap_or(hard);
        let wanted = need.min(ceiling);
        if rlimit::Resource::NOFILE.set(wanted, wanted).is_ok() {
            limits = FdLimits {
                soft: wanted,
                hard: wanted,
            };
        }
    }
    if limits.soft < limits.hard
        && rlimit::Resource::NOFILE
            .set(hard.max(limits.hard), limits.hard)
            .is_ok()
    {
        limits.soft = limits.hard;
    }
    if need > limits.soft {
        return Err(format!(
            "this run needs about {need} open files but the limit is {} (hard limit {}); \
             raise it before running (`ulimit -n {need}`, as root if above the hard limit, \
             up to fs.nr_open), run the server in its own process (`[server] mode = \"process\"`), \
             or use fewer subscribers",
            limits.soft, limits.hard
        ));
    }
    Ok(limits)
}

/// The kernel's ceiling for any process's open-file limit.
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The loopback source address for the client with this ordinal among `total` clients of a run
/// connecting to a loopback server, or `None` (the kernel's choice) when one source has ports
/// enough for all of them. Clients are numbered subscribers first, then publishers.
pub fn loopback_source(ordinal: u32, total: u32) -> Option<IpAddr> {
    if total <= CLIENTS_PER_SOURCE {
        return None;
    }
    let n = ordinal / CLIENTS_PER_SOURCE;
    // 127.0.0.1, 127.0.0.2, …: Linux answers for all of 127/8 without configuration.
    let [a, b] = u16::try_from(n + 1).unwrap_or(u16::MAX).to_be_bytes();
    Some(IpAddr::V4(Ipv4Addr::new(127, 0, a, b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_both_ends_only_when_the_server_shares_the_process() {
        assert_eq!(descriptors_needed(10_000, false, false), 10_256);
        assert_eq!(descriptors_needed(10_000, true, false), 20_256);
        assert_eq!(descriptors_needed(10_000, true, true), 40_256);
    }

    #[test]
    fn spreads_sources_only_past_one_sources_share() {
        assert_eq!(loopback_source(5, 100), None);
        let total = 3 * CLIENTS_PER_SOURCE;
        assert_eq!(
            loopback_source(0, total),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            loopback_source(CLIENTS_PER_SOURCE, total),
            Some("127.0.0.2".parse().unwrap())
        );
        assert_eq!(
            loopback_source(2 * CLIENTS_PER_SOURCE + 7, total),
            Some("127.0.0.3".parse().unwrap())
        );
    }

    #[test]
    fn a_need_within_the_hard_limit_fits() {
        let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
        let limits = raise_nofile(hard.min(1024)).unwrap();
        assert_eq!(limits.soft, limits.hard, "soft raised to hard");
    }

    #[test]
    fn an_impossible_need_is_refused_with_the_fix() {
        let err = raise_nofile(u64::MAX / 2).unwrap_err();
        assert!(err.contains("open files"), "{err}");
        assert!(err.contains("ulimit -n"), "{err}");
    }
}
