//! When each message should be sent: the open-loop schedule and its generator thread. (The
//! closed-loop in-flight window for `rate_per_sec = "max"` is flow control, in `flow.rs`.)
//!
//! Open loop (wrk2's model): message `i` of publisher `p` is due at
//! `start + offset(p) + i * interval`, whatever happened to earlier messages, and latency is timed
//! from that instant. Tokio's timer has 1 ms granularity, which would add up to 1 ms of generator
//! error to every sample, so a dedicated OS thread sleeps to each due time with the kernel's
//! high-resolution timer and *releases* messages by raising a per-publisher counter; publisher
//! tasks send everything released. Whatever delay remains (the thread's wake-up, the task's
//! wake-up, a publish that blocked) is real and shows up as schedule lag.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::Notify;
use transport_core::clock;

/// The open-loop timetable for all publishers of a run.
#[derive(Debug)]
pub struct Schedule {
    start_ns: u64,
    interval_ns: f64,
    offsets_ns: Vec<u64>,
    per_publisher: u64,
    released: Vec<AtomicU64>,
    wake: Vec<Notify>,
    stop: AtomicBool,
}

impl Schedule {
    /// A timetable of `total_secs` at `rate_per_sec` spread evenly over `publishers`, starting at
    /// `start_ns` ([`clock`] time). Publishers are staggered so their sends interleave.
    pub fn new(
        start_ns: u64,
        rate_per_sec: f64,
        publishers: u32,
        total: Duration,
    ) -> Arc<Schedule> {
        let per_pub_rate = rate_per_sec / f64::from(publishers);
        let interval_ns = 1e9 / per_pub_rate;
        let per_publisher = (total.as_secs_f64() * per_pub_rate).floor() as u64;
        let offsets_ns = (0..publishers)
            .map(|p| (interval_ns * f64::from(p) / f64::from(publishers)) as u64)
            .collect();
        Arc::new(Schedule {
            start_ns,
            interval_ns,
            offsets_ns,
            per_publisher,
            released: (0..publishers).map(|_| AtomicU64::new(0)).collect(),
            wake: (0..publishers).map(|_| Notify::new()).collect(),
            stop: AtomicBool::new(false),
        })
    }

    /// Messages each publisher sends over the whole run.
    pub fn per_publisher(&self) -> u64 {
        self.per_publisher
    }

    /// When message `seq` of `publisher` is due ([`clock`] ns).
    pub fn intended_ns(&self, publisher: u32, seq: u64) -> u64 {
        self.start_ns + self.offsets_ns[publisher as usize] + (seq as f64 * self.interval_ns) as u64
    }

    /// How many messages of `publisher` are due by `now_ns`.
    fn due_by(&self, publisher: u32, now_ns: u64) -> u64 {
        let since = now_ns.saturating_sub(self.start_ns + self.offsets_ns[publisher as usize]);
        if now_ns < self.start_ns + self.offsets_ns[publisher as usize] {
            return 0;
        }
        ((since as f64 / self.interval_ns).floor() as u64 + 1).min(self.per_publisher)
    }

    /// Messages released to `publisher` so far.
    pub fn released(&self, publisher: u32) -> u64 {
        self.released[publisher as usize].load(Ordering::Acquire)
    }

    /// Waits until more messages are released to `publisher` than `sent`, or `bound` passes.
    pub async fn wait_for_release(&self, publisher: u32, sent: u64, bound: Duration) {
        let notified = self.wake[publisher as usize].notified();
        if self.released(publisher) > sent {
            return;
        }
        let _ = tokio::time::timeout(bound, notified).await;
    }

    /// Stops the generator thread early (on failure).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Messages all publishers are scheduled to send with intended times in `[from_ns, to_ns)`.
    pub fn scheduled_between(&self, from_ns: u64, to_ns: u64) -> u64 {
        (0..self.released.len() as u32)
            .map(|p| {
                let first = self.start_ns + self.offsets_ns[p as usize];
                // Index of the first message intended at or after `t`.
                let index_at = |t: u64| {
                    let since = t.saturating_sub(first) as f64;
                    ((since / self.interval_ns).ceil() as u64).min(self.per_publisher)
                };
                index_at(to_ns) - index_at(from_ns)
            })
            .sum()
    }

    /// Starts the generator thread; it ends when every message is released or on [`Self::stop`],
    /// returning, for each message intended inside `window` (clock ns), how late the thread
    /// released it: the harness's own lag before any transport is involved. Recorded per
    /// message, it is directly comparable with the schedule lag: if it explains that lag, the
    /// machine (not the transport) could not generate the offered load.
    pub fn spawn_generator(
        self: &Arc<Self>,
        window: std::ops::Range<u64>,
    ) -> std::io::Result<thread::JoinHandle<Histogram<u64>>> {
        let s = self.clone();
        thread::Builder::new()
            .name("tb-generator".into())
            .spawn(move || s.generate(window))
    }

    fn generate(&self, window: std::ops::Range<u64>) -> Histogram<u64> {
        precise_sleeps();
        let mut lateness = crate::results::histogram::latency_histogram();
        let publishers = self.released.len() as u32;
        loop {
            if self.stop.load(Ordering::Acquire) {
                return lateness;
            }
            let now = clock::now_ns();
            let mut next_due = u64::MAX;
            let mut all_done = true;
            for p in 0..publishers {
                let due = self.due_by(p, now);
                for seq in self.released(p)..due {
                    let intended = self.intended_ns(p, seq);
                    if window.contains(&intended) {
                        lateness.saturating_record(now.saturating_sub(intended).max(1));
                    }
                }
                if due > self.released(p) {
                    self.released[p as usize].store(due, Ordering::Release);
                    self.wake[p as usize].notify_one();
                }
                if due < self.per_publisher {
                    all_done = false;
                    next_due = next_due.min(self.intended_ns(p, due));
                }
            }
            if all_done {
                return lateness;
            }
            let wait = next_due.saturating_sub(clock::now_ns());
            // Sleep in bounded slices so a stop request is seen promptly.
            thread::sleep(Duration::from_nanos(wait.min(50_000_000)));
        }
    }
}

/// Asks the kernel for the tightest timer slack on this thread, so `thread::sleep` wakes within
/// microseconds of its deadline instead of the default 50 µs late; and, where permitted, for a
/// higher scheduling priority, so the thread runs as soon as it wakes even when the receive
/// loops of thousands of subscribers keep the load generator's cores busy.
fn precise_sleeps() {
    #[cfg(target_os = "linux")]
    {
        // Best effort, like the priority: a kernel that refuses only leaves sleeps coarser.
        let _ = nix::sys::prctl::set_timerslack(1);
        raise_priority();
    }
}

/// Raises the calling thread's priority to [`GENERATOR_NICE`] if the process may.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn raise_priority() {
    // SAFETY: nix has no setpriority wrapper. With PRIO_PROCESS and id 0 it changes only the
    // calling thread's nice value on Linux, takes no pointers, and fails harmlessly (EPERM)
    // without CAP_SYS_NICE.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, GENERATOR_NICE);
    }
}

/// The generator thread's nice value when the process may raise its priority.
#[cfg(target_os = "linux")]
const GENERATOR_NICE: libc::c_int = -10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timetable_is_even_and_staggered() {
        let s = Schedule::new(1_000, 1000.0, 2, Duration::from_secs(1));
        // 500/s per publisher: every 2 ms, publisher 1 offset by 1 ms.
        assert_eq!(s.per_publisher(), 500);
        assert_eq!(s.intended_ns(0, 0), 1_000);
        assert_eq!(s.intended_ns(0, 3), 1_000 + 6_000_000);
        assert_eq!(s.intended_ns(1, 0), 1_000 + 1_000_000);
        assert_eq!(s.due_by(0, 999), 0);
        assert_eq!(s.due_by(0, 1_000), 1);
        assert_eq!(s.due_by(0, 1_000 + 4_000_000), 3);
        assert_eq!(
            s.due_by(0, u64::MAX / 2),
            500,
            "never more than the run's total"
        );
    }

    #[test]
    fn generator_releases_everything_on_time() {
        let start = clock::now_ns() + 1_000_000;
        let s = Schedule::new(start, 2000.0, 1, Duration::from_millis(100));
        let lateness = s.spawn_generator(0..u64::MAX).unwrap().join().unwrap();
        assert_eq!(
            lateness.len(),
            200,
            "one lateness sample per released message"
        );
        assert!(
            !lateness.is_empty(),
            "the generator records its own wake-up lag"
        );
        assert_eq!(s.scheduled_between(0, u64::MAX), 200);
        assert_eq!(s.scheduled_between(start, start + 10_000_000), 20);
        assert_eq!(s.scheduled_between(start + 1, start + 10_000_000), 19);
        assert_eq!(s.released(0), 200);
        assert!(
            clock::now_ns() >= s.intended_ns(0, 199),
            "the last release is not early"
        );
    }
}
