//! Test-only knobs that plant known regressions, so the regression gate can be calibrated
//! against effects of a known size (`scripts/gate-calibration.sh`).
//!
//! They exist only in a build with the `test-knobs` feature (`cargo build --features
//! test-knobs`); in every other build the functions below are constant no-ops and the
//! environment is never read, so no setting of a normal run can enable them. In a test-knobs
//! build each knob is read once from the environment, and a process that finds one set says so
//! on stderr:
//!
//! - `TRANSPORT_BENCH_TEST_SPIN_NS=TRANSPORT:NS` — the named transport's server burns `NS`
//!   nanoseconds of CPU per delivered message (per subscriber copy): more CPU per message.
//!   `TRANSPORT:PERCENT%` instead burns that share of what the server itself spends per
//!   delivered message, re-measured every thousand deliveries, so `websocket:20%` is a +20%
//!   CPU regression on any machine and under any load.
//! - `TRANSPORT_BENCH_TEST_PAD_BYTES=N` — every message the harness publishes carries `N`
//!   bytes beyond the scenario's payload size, which the results count as overhead: more
//!   bytes per message on every transport.

/// Burns the CPU planted for the `transport` server's `copies` delivered messages (a no-op
/// unless `TRANSPORT_BENCH_TEST_SPIN_NS` names this transport).
#[cfg(feature = "test-knobs")]
pub fn plant_cpu(transport: &str, copies: u64) {
    static KNOB: std::sync::OnceLock<Option<(String, Plant)>> = std::sync::OnceLock::new();
    static SHARE: std::sync::Mutex<Option<ShareSizer>> = std::sync::Mutex::new(None);
    let knob = KNOB.get_or_init(|| {
        let raw = std::env::var("TRANSPORT_BENCH_TEST_SPIN_NS").ok()?;
        let knob = parse_plant(&raw);
        match &knob {
            Some((name, plant)) => eprintln!("test knob: {name} server burns {plant} of CPU"),
            None => eprintln!("test knob: ignoring TRANSPORT_BENCH_TEST_SPIN_NS={raw:?}"),
        }
        knob
    });
    let Some((name, plant)) = knob else { return };
    if name != transport || copies == 0 {
        return;
    }
    match *plant {
        Plant::Nanos(ns) => {
            burn_cpu(ns * copies);
        }
        Plant::Share(share) => {
            let mut sizer = SHARE
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let sizer = sizer.get_or_insert_with(|| ShareSizer::new(share));
            let burnt = burn_cpu(sizer.per_message_ns * copies);
            sizer.record(copies, burnt, process_cpu_ns);
        }
    }
}

/// Planted CPU per delivered message: always nothing without the `test-knobs` feature.
#[cfg(not(feature = "test-knobs"))]
#[inline]
pub fn plant_cpu(_transport: &str, _copies: u64) {}

/// How much CPU a planted regression adds per delivered message.
#[cfg(any(test, feature = "test-knobs"))]
#[derive(Clone, Copy, Debug, PartialEq)]
enum Plant {
    /// A fixed cost: this many nanoseconds of CPU.
    Nanos(u64),
    /// A share of what the process itself spends per delivered message (0.2 = +20%), so the
    /// plant is the same relative regression on a fast or slow, idle or busy machine.
    Share(f64),
}

#[cfg(any(test, feature = "test-knobs"))]
impl std::fmt::Display for Plant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Plant::Nanos(ns) => write!(f, "{ns} ns per delivered message"),
            Plant::Share(s) => write!(f, "+{}% per delivered message", s * 100.0),
        }
    }
}

/// `TRANSPORT:NS` or `TRANSPORT:PERCENT%`.
#[cfg(any(test, feature = "test-knobs"))]
fn parse_plant(raw: &str) -> Option<(String, Plant)> {
    let (name, amount) = raw.split_once(':')?;
    let amount = amount.trim();
    let plant = match amount.strip_suffix('%') {
        Some(pct) => {
            let pct: f64 = pct.trim().parse().ok()?;
            (pct > 0.0 && pct.is_finite()).then_some(Plant::Share(pct / 100.0))?
        }
        None => Plant::Nanos(amount.parse().ok()?),
    };
    Some((name.trim().to_owned(), plant))
}

/// Sizes a `Plant::Share`: every `WINDOW` deliveries it measures the process's own CPU per
/// delivery (its CPU clock minus what the plant burnt) and plants the share of that for the
/// next window. The first window plants nothing: the gate's warm-up covers it.
#[cfg(any(test, feature = "test-knobs"))]
struct ShareSizer {
    share: f64,
    per_message_ns: u64,
    deliveries: u64,
    burnt_ns: u64,
    last_cpu_ns: Option<u64>,
}

#[cfg(any(test, feature = "test-knobs"))]
impl ShareSizer {
    const WINDOW: u64 = 1000;

    fn new(share: f64) -> Self {
        ShareSizer {
            share,
            per_message_ns: 0,
            deliveries: 0,
            burnt_ns: 0,
            last_cpu_ns: None,
        }
    }

    fn record(&mut self, deliveries: u64, burnt_ns: u64, cpu_now_ns: impl FnOnce() -> u64) {
        self.deliveries += deliveries;
        self.burnt_ns += burnt_ns;
        if self.deliveries < Self::WINDOW {
            return;
        }
        let now = cpu_now_ns();
        if let Some(last) = self.last_cpu_ns {
            let own = now.saturating_sub(last).saturating_sub(self.burnt_ns);
            self.per_message_ns = (own as f64 / self.deliveries as f64 * self.share) as u64;
        }
        self.last_cpu_ns = Some(now);
        self.deliveries = 0;
        self.burnt_ns = 0;
    }
}

#[cfg(feature = "test-knobs")]
fn clock_ns(clock: nix::time::ClockId) -> u64 {
    // These clocks exist on every Linux; a failure would mean no CPU accounting at all.
    let t = nix::time::clock_gettime(clock).expect("CPU clock readable");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

#[cfg(feature = "test-knobs")]
fn process_cpu_ns() -> u64 {
    clock_ns(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
}

/// Busy-waits until this thread has used `ns` more nanoseconds of CPU and returns what it
/// used. Counting CPU rather than wall time keeps the plant exact when the thread is
/// preempted mid-spin (the gate's two servers share one core).
#[cfg(feature = "test-knobs")]
fn burn_cpu(ns: u64) -> u64 {
    if ns == 0 {
        return 0;
    }
    let thread = nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID;
    let start = clock_ns(thread);
    loop {
        let used = clock_ns(thread) - start;
        if used >= ns {
            return used;
        }
        std::hint::spin_loop();
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "test-knobs"))]
    #[test]
    fn knobs_are_inert_without_the_feature() {
        plant_cpu("websocket", 1_000_000); // returns at once: nothing to burn
        assert_eq!(pad_bytes(), 0);
    }

    #[test]
    fn plants_parse_as_nanoseconds_or_a_share() {
        assert_eq!(
            parse_plant("websocket:7000"),
            Some(("websocket".into(), Plant::Nanos(7000)))
        );
        assert_eq!(
            parse_plant(" sse : 20% "),
            Some(("sse".into(), Plant::Share(0.2)))
        );
        for bad in [
            "websocket",
            "websocket:",
            "websocket:-5%",
            "websocket:0%",
            "x:abc",
        ] {
            assert_eq!(parse_plant(bad), None, "{bad}");
        }
    }

    #[test]
    fn share_sizer_plants_the_share_of_the_cost_it_did_not_burn_itself() {
        let mut sizer = ShareSizer::new(0.2);
        // First window: only a reference point, nothing planted yet.
        sizer.record(1000, 0, || 1_000_000);
        assert_eq!(sizer.per_message_ns, 0);
        // 40 µs of own CPU per delivery over 1000 deliveries -> plant 8 µs each.
        sizer.record(1000, 0, || 1_000_000 + 40_000_000);
        assert_eq!(sizer.per_message_ns, 8_000);
        // Next window the process used 48 ms, 8 ms of it the plant's: still 40 µs own, 8 µs.
        sizer.record(600, 4_800_000, || unreachable!("not a full window yet"));
        sizer.record(400, 3_200_000, || 41_000_000 + 48_000_000);
        assert_eq!(sizer.per_message_ns, 8_000);
    }

    #[cfg(feature = "test-knobs")]
    #[test]
    fn burn_uses_at_least_the_cpu_asked() {
        let before = process_cpu_ns();
        assert!(burn_cpu(200_000) >= 200_000);
        assert!(process_cpu_ns() - before >= 200_000);
        assert_eq!(burn_cpu(0), 0);
    }
}
