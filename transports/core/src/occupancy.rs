//! Where a lagging consumer's data waits on a server, as gauges every transport names alike:
//! messages and bytes queued for particular subscribers ([`QueueGauges`], one [`QueueShare`]
//! per subscriber) and messages and bytes a shared log retains for all of them
//! ([`RetainedGauges`]). The split is the point: a push server's per-subscriber queues grow
//! with every consumer that falls behind, a log retained once for everyone does not.
//!
//! Bytes are what the server still has to send (or keeps), counted per subscriber for queues:
//! where queues share one copy of a message with the log (raw-tcp, websocket), the queued bytes
//! are a measure of backlog, not of extra memory; the process's RSS says what memory it took.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::counters::{Counters, Gauge};

/// Messages waiting in per-subscriber queues for delivery.
pub const QUEUED_MESSAGES: &str = "server_queued_messages";
/// Bytes of those messages (as they will be written, framing included where the queue holds
/// frames).
pub const QUEUED_BYTES: &str = "server_queued_bytes";
/// Messages a shared log holds for resuming or pulling consumers.
pub const RETAINED_MESSAGES: &str = "server_retained_messages";
/// Bytes of those messages.
pub const RETAINED_BYTES: &str = "server_retained_bytes";

/// The server-wide gauges of per-subscriber queues.
#[derive(Debug, Clone)]
pub struct QueueGauges {
    messages: Gauge,
    bytes: Gauge,
}

impl QueueGauges {
    /// Registers [`QUEUED_MESSAGES`] and [`QUEUED_BYTES`] in `c`.
    pub fn register(c: &Counters) -> Self {
        QueueGauges {
            messages: c.gauge(QUEUED_MESSAGES),
            bytes: c.gauge(QUEUED_BYTES),
        }
    }

    /// A new subscriber's account, starting empty.
    pub fn share(&self) -> QueueShare {
        QueueShare {
            gauges: self.clone(),
            messages: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }
}

/// One subscriber's part of the queue gauges. Whatever it still holds when dropped leaves the
/// gauges with it, so a subscriber that goes away with a full queue cannot leave the server-wide
/// figure inflated. Share it (`Arc`) between whoever enqueues and whoever sends: it is dropped
/// when neither can touch the queue any more, so the remainder it subtracts is exact.
#[derive(Debug)]
pub struct QueueShare {
    gauges: QueueGauges,
    messages: AtomicU64,
    bytes: AtomicU64,
}

impl QueueShare {
    /// `messages` of `bytes` joined the queue.
    pub fn add(&self, messages: u64, bytes: u64) {
        self.messages.fetch_add(messages, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
        self.gauges.messages.add(messages);
        self.gauges.bytes.add(bytes);
    }

    /// `messages` of `bytes` left the queue (sent, or dropped by a policy).
    pub fn remove(&self, messages: u64, bytes: u64) {
        self.messages.fetch_sub(messages, Relaxed);
        self.bytes.fetch_sub(bytes, Relaxed);
        self.gauges.messages.sub(messages);
        self.gauges.bytes.sub(bytes);
    }

    /// Messages queued now.
    pub fn messages(&self) -> u64 {
        self.messages.load(Relaxed)
    }
}

impl Drop for QueueShare {
    fn drop(&mut self) {
        self.gauges.messages.sub(*self.messages.get_mut());
        self.gauges.bytes.sub(*self.bytes.get_mut());
    }
}

/// The server-wide gauges of retained logs (every topic's or partition's together).
#[derive(Debug, Clone)]
pub struct RetainedGauges {
    messages: Gauge,
    bytes: Gauge,
}

impl RetainedGauges {
    /// Registers [`RETAINED_MESSAGES`] and [`RETAINED_BYTES`] in `c`.
    pub fn register(c: &Counters) -> Self {
        RetainedGauges {
            messages: c.gauge(RETAINED_MESSAGES),
            bytes: c.gauge(RETAINED_BYTES),
        }
    }

    /// Gauges that belong to no registry: for logs built outside a server (tests, tools).
    pub fn detached() -> Self {
        Self::register(&Counters::default())
    }

    /// A log took in `messages` of `bytes`.
    pub fn add(&self, messages: u64, bytes: u64) {
        self.messages.add(messages);
        self.bytes.add(bytes);
    }

    /// A log let go of `messages` of `bytes` (retention, or the log itself went away).
    pub fn remove(&self, messages: u64, bytes: u64) {
        self.messages.sub(messages);
        self.bytes.sub(bytes);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::counters::GaugeReading;

    #[test]
    fn a_dropped_share_takes_its_remainder_out_of_the_gauges() {
        let c = Counters::new();
        let q = QueueGauges::register(&c);
        let (a, b) = (Arc::new(q.share()), q.share());
        a.add(3, 300);
        b.add(2, 200);
        a.remove(1, 100);
        assert_eq!(a.messages(), 2);
        assert_eq!(c.gauge_values()[QUEUED_BYTES].value, 400);
        drop(a);
        let v = c.gauge_values();
        assert_eq!(v[QUEUED_MESSAGES], GaugeReading { value: 2, peak: 5 });
        assert_eq!(v[QUEUED_BYTES].value, 200);
        drop(b);
        assert_eq!(c.gauge_values()[QUEUED_MESSAGES].value, 0);
    }

    #[test]
    fn retained_gauges_move_both_figures() {
        let c = Counters::new();
        let r = RetainedGauges::register(&c);
        r.add(4, 40);
        r.remove(1, 10);
        let v = c.gauge_values();
        assert_eq!(
            (v[RETAINED_MESSAGES].value, v[RETAINED_BYTES].value),
            (3, 30)
        );
    }
}
