//! Test-only knobs that plant known regressions, so the regression gate can be calibrated
//! against effects of a known size (`scripts/gate-calibration.sh`).
//!
//! They exist only in a build with the `test-knobs` feature (`cargo build --features
//! test-knobs`); in every other build the functions below are constant no-ops and the
//! environment is never read, so no setting of a normal run can enable them. In a test-knobs
//! build each knob is read once from the environment, and a process that finds one set says so
//! on stderr:
//!
//! - `TRANSPORT_BENCH_TEST_SPIN_NS=TRANSPORT:NS` — the named transport's server busy-waits
//!   `NS` nanoseconds per delivered message (per subscriber copy): more CPU per message.
//! - `TRANSPORT_BENCH_TEST_PAD_BYTES=N` — every message the harness publishes carries `N`
//!   bytes beyond the scenario's payload size, which the results count as overhead: more
//!   bytes per message on every transport.

/// Extra CPU per delivered message the `transport` server should burn, in nanoseconds.
#[cfg(feature = "test-knobs")]
pub fn spin_ns(transport: &str) -> u64 {
    static SPIN: std::sync::OnceLock<Option<(String, u64)>> = std::sync::OnceLock::new();
    let knob = SPIN.get_or_init(|| {
        let raw = std::env::var("TRANSPORT_BENCH_TEST_SPIN_NS").ok()?;
        let (name, ns) = raw.split_once(':')?;
        let ns = ns.trim().parse().ok()?;
        eprintln!("test knob: {name} server spins {ns} ns per delivered message");
        Some((name.trim().to_owned(), ns))
    });
    match knob {
        Some((name, ns)) if name == transport => *ns,
        _ => 0,
    }
}

/// Extra CPU per delivered message: always zero without the `test-knobs` feature.
#[cfg(not(feature = "test-knobs"))]
pub const fn spin_ns(_transport: &str) -> u64 {
    0
}

/// Extra bytes per published message beyond the scenario's payload size.
#[cfg(feature = "test-knobs")]
pub fn pad_bytes() -> usize {
    static PAD: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAD.get_or_init(|| {
        let pad = std::env::var("TRANSPORT_BENCH_TEST_PAD_BYTES")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if pad > 0 {
            eprintln!("test knob: every message carries {pad} bytes beyond its payload");
        }
        pad
    })
}

/// Extra bytes per published message: always zero without the `test-knobs` feature.
#[cfg(not(feature = "test-knobs"))]
pub const fn pad_bytes() -> usize {
    0
}

/// Busy-waits `ns` nanoseconds of wall time on this thread (a no-op for 0). A preempted spin
/// burns a little less CPU than asked; over thousands of messages that is noise, not bias
/// worth a syscall per check.
pub fn spin(ns: u64) {
    if ns == 0 {
        return;
    }
    let until = std::time::Instant::now() + std::time::Duration::from_nanos(ns);
    while std::time::Instant::now() < until {
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "test-knobs"))]
    #[test]
    fn knobs_are_inert_without_the_feature() {
        assert_eq!(spin_ns("websocket"), 0);
        assert_eq!(pad_bytes(), 0);
    }

    #[test]
    fn spin_waits_at_least_as_asked() {
        let t = std::time::Instant::now();
        spin(200_000);
        assert!(t.elapsed() >= std::time::Duration::from_micros(200));
        spin(0);
    }
}
