//! When each message should be sent: the open-loop schedule and its generator thread, and the
//! closed-loop in-flight window for `rate_per_sec = "max"`.
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
use std::time::{Duration, Instant};

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
        let mut lateness = super::histogram::latency_histogram();
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
#[allow(unsafe_code)]
fn precise_sleeps() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only affects the calling thread;
    // setpriority with PRIO_PROCESS and id 0 changes only the calling thread's nice value on
    // Linux, and fails harmlessly (EPERM) without CAP_SYS_NICE.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
        libc::setpriority(libc::PRIO_PROCESS, 0, GENERATOR_NICE);
    }
}

/// The generator thread's nice value when the process may raise its priority.
#[cfg(target_os = "linux")]
const GENERATOR_NICE: libc::c_int = -10;

/// How often a publisher asleep on a full window looks again by itself.
const LOSS_RECHECK: Duration = Duration::from_millis(10);

/// The closed-loop window of one publisher: at most `limit` of its messages may be published
/// but not yet received by every subscriber of its topic.
///
/// A publisher that finds its window full sleeps until half of it has been delivered, not
/// until the first slot frees: waking it for every delivered message would cost a cross-thread
/// wake-up per message and hand the transport one message at a time, which measured the
/// harness's ping-pong rather than the transport's ceiling.
#[derive(Debug)]
pub struct Window {
    limit: u64,
    fanout: u64,
    /// Outstanding copies at or below which a waiting publisher is woken; also the copies
    /// received since it went to sleep that wake it (copies that never come, such as lost
    /// ones, must not leave it to its timeout).
    resume_at: u64,
    published: AtomicU64,
    received: AtomicU64,
    /// `received` when the publisher last went to sleep.
    slept_at: AtomicU64,
    waiting: AtomicBool,
    wake: Notify,
}

impl Window {
    /// A window of `limit` messages, each expected by `fanout` subscribers.
    pub fn new(limit: u32, fanout: u32) -> Window {
        let fanout = u64::from(fanout.max(1));
        Window {
            limit: u64::from(limit),
            fanout,
            resume_at: u64::from(limit) / 2 * fanout,
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            slept_at: AtomicU64::new(0),
            waiting: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    /// Copies published but not yet received.
    fn outstanding(&self) -> u64 {
        // SeqCst with `waiting` below: the publisher stores `waiting` then reads `received`,
        // a subscriber adds to `received` then reads `waiting`; one of them must see the other.
        let published = self.published.load(Ordering::SeqCst) * self.fanout;
        published.saturating_sub(self.received.load(Ordering::SeqCst))
    }

    fn full(&self) -> bool {
        self.outstanding() >= self.limit * self.fanout
    }

    /// Counts up to `max` more messages as published, as many as the window has room for,
    /// without waiting; returns how many. Only the window's one publisher calls it, so the
    /// room it saw cannot shrink before it takes it.
    pub fn try_acquire_up_to(&self, max: u64) -> u64 {
        let room = (self.limit * self.fanout).saturating_sub(self.outstanding()) / self.fanout;
        let n = room.min(max);
        if n > 0 {
            self.published.fetch_add(n, Ordering::SeqCst);
        }
        n
    }

    /// Waits for room for one more message (bounded by `deadline`), then counts it as published.
    /// Returns false if the deadline passed first.
    pub async fn acquire(&self, deadline: Instant) -> bool {
        while self.full() {
            let notified = self.wake.notified();
            self.slept_at
                .store(self.received.load(Ordering::SeqCst), Ordering::SeqCst);
            self.waiting.store(true, Ordering::SeqCst);
            if !self.full() {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            // A short bound as well, in case more than half the window is lost (those copies
            // never come, so neither wake-up condition may hold): the loop re-checks.
            let _ = tokio::time::timeout(left.min(LOSS_RECHECK), notified).await;
        }
        self.published.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// Takes back `n` publishes that failed or were never made.
    pub fn release_failed(&self, n: u64) {
        self.received.fetch_add(n * self.fanout, Ordering::SeqCst);
    }

    /// Called by a subscriber for `copies` first copies it received from this publisher (one
    /// call per delivery unit, not per message).
    pub fn received(&self, copies: u64) {
        let received = self.received.fetch_add(copies, Ordering::SeqCst) + copies;
        if self.waiting.load(Ordering::SeqCst)
            && (self.outstanding() <= self.resume_at
                || received.saturating_sub(self.slept_at.load(Ordering::SeqCst))
                    >= self.resume_at.max(1))
            && self.waiting.swap(false, Ordering::SeqCst)
        {
            self.wake.notify_one();
        }
    }
}

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

    #[tokio::test]
    async fn window_blocks_when_full_and_reopens() {
        let w = Window::new(2, 1);
        let far = Instant::now() + Duration::from_secs(5);
        assert!(w.acquire(far).await);
        assert!(w.acquire(far).await);
        assert!(
            !w.acquire(Instant::now() + Duration::from_millis(20)).await,
            "third must wait"
        );
        w.received(1);
        assert!(w.acquire(far).await);
    }

    #[test]
    fn a_batch_takes_what_room_there_is() {
        // 3 messages, each for 2 subscribers.
        let w = Window::new(3, 2);
        assert_eq!(w.try_acquire_up_to(2), 2);
        assert_eq!(w.try_acquire_up_to(5), 1, "only the room left");
        assert_eq!(w.try_acquire_up_to(5), 0, "full");
        // One copy of a message is not yet room for a message.
        w.received(1);
        assert_eq!(w.try_acquire_up_to(5), 0);
        w.received(3);
        assert_eq!(w.try_acquire_up_to(5), 2);
        w.release_failed(1);
        assert_eq!(
            w.try_acquire_up_to(5),
            1,
            "a message taken back is room again"
        );
    }

    /// Fills `w` (a window of 4) and returns a publisher task asleep on it: it waits (bounded)
    /// until the task has gone to sleep.
    async fn asleep_on_a_full_window(w: &std::sync::Arc<Window>) -> tokio::task::JoinHandle<bool> {
        let far = Instant::now() + Duration::from_secs(5);
        for _ in 0..4 {
            assert!(w.acquire(far).await);
        }
        let waiter = tokio::spawn({
            let w = w.clone();
            async move { w.acquire(far).await }
        });
        let asleep = Instant::now() + Duration::from_secs(5);
        while !w.waiting.load(Ordering::SeqCst) {
            assert!(Instant::now() < asleep, "the publisher never waited");
            tokio::task::yield_now().await;
        }
        waiter
    }

    #[tokio::test]
    async fn a_waiting_publisher_is_woken_once_half_the_window_is_delivered() {
        let w = std::sync::Arc::new(Window::new(4, 2));
        let waiter = asleep_on_a_full_window(&w).await;
        // 8 copies outstanding; waking happens at 4 or fewer.
        w.received(3);
        assert!(
            w.waiting.load(Ordering::SeqCst),
            "woken before half was delivered"
        );
        w.received(1);
        assert!(!w.waiting.load(Ordering::SeqCst), "not woken at half");
        assert!(waiter.await.expect("publisher task"));
    }

    #[tokio::test]
    async fn a_publisher_gets_on_when_most_of_its_window_is_lost() {
        let w = std::sync::Arc::new(Window::new(4, 1));
        let waiter = asleep_on_a_full_window(&w).await;
        // Three copies are lost: one arrives, and nothing else ever will.
        w.received(1);
        let got_on = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert!(got_on.expect("not stuck on lost copies").expect("task"));
    }
}
