//! Closed-loop flow control for `rate_per_sec = "max"`: each publisher's in-flight window, and
//! the credits its subscribers hand back for the first copies they receive.
//!
//! The publish phase owns it: it builds one [`FlowControl`] per run, its publishers acquire
//! room before they send, and each receive loop returns credits through a [`Credits`] it is
//! given. The credits come from the recorder's one decode of each message ([`Credits`] is an
//! [`Observe`] the recorder tells), so the recorder records and nothing else, and no message is
//! decoded twice.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use transport_core::Envelope;

use super::audit::Arrival;
use super::observe::Observe;

/// The in-flight windows of a run's publishers: one per publisher in closed loop, none in open
/// loop (where the schedule, not delivery, paces publishing).
#[derive(Debug, Default)]
pub struct FlowControl {
    windows: Vec<Window>,
}

impl FlowControl {
    /// No flow control: an open-loop run.
    pub fn open_loop() -> FlowControl {
        FlowControl::default()
    }

    /// One window of `limit` messages per publisher, publisher `p`'s messages each expected by
    /// `fanout[p]` subscribers.
    pub fn closed_loop(limit: u32, fanout: impl IntoIterator<Item = u32>) -> FlowControl {
        FlowControl {
            windows: fanout.into_iter().map(|f| Window::new(limit, f)).collect(),
        }
    }

    /// Whether publishers wait for deliveries (closed loop).
    pub fn is_closed_loop(&self) -> bool {
        !self.windows.is_empty()
    }

    /// Publisher `p`'s window, in closed loop.
    pub fn window(&self, p: u32) -> Option<&Window> {
        self.windows.get(p as usize)
    }

    /// What one receive loop hands credits back through.
    pub fn credits(&self) -> Credits<'_> {
        Credits {
            windows: &self.windows,
            publisher: 0,
            copies: 0,
        }
    }
}

/// Consecutive first copies from one publisher, not yet credited to its window: a receive loop
/// credits once per run of messages from one publisher rather than once per message (an atomic
/// on a line the publisher also uses).
#[derive(Debug)]
pub struct Credits<'a> {
    windows: &'a [Window],
    publisher: u32,
    copies: u64,
}

impl Credits<'_> {
    fn flush(&mut self) {
        if self.copies > 0 {
            if let Some(w) = self.windows.get(self.publisher as usize) {
                w.received(self.copies);
            }
            self.copies = 0;
        }
    }
}

impl Observe for Credits<'_> {
    fn arrived(&mut self, env: &Envelope, arrival: Arrival) {
        // Open loop has no windows: `flush` then finds none to credit.
        if arrival == Arrival::Duplicate {
            return;
        }
        if env.publisher != self.publisher {
            self.flush();
            self.publisher = env.publisher;
        }
        self.copies += 1;
    }

    fn unit_done(&mut self) {
        self.flush();
    }
}

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

    #[test]
    fn credits_go_to_each_publishers_window_once_per_run_of_first_copies() {
        let flow = FlowControl::closed_loop(4, [1, 1]);
        for p in 0..2 {
            assert_eq!(flow.window(p).unwrap().try_acquire_up_to(4), 4);
        }
        let env = |publisher, seq| Envelope {
            publisher,
            seq,
            intended_ns: 0,
            sent_ns: 0,
        };
        let mut credits = flow.credits();
        credits.arrived(&env(0, 0), Arrival::Fresh);
        credits.arrived(&env(0, 0), Arrival::Duplicate);
        credits.arrived(&env(1, 0), Arrival::Fresh);
        credits.arrived(&env(1, 1), Arrival::Reordered);
        credits.unit_done();
        // A duplicate is no credit: one message of publisher 0 is room again, two of 1's.
        assert_eq!(flow.window(0).unwrap().try_acquire_up_to(4), 1);
        assert_eq!(flow.window(1).unwrap().try_acquire_up_to(4), 2);
    }
}
