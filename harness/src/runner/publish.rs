//! Publisher loops: open loop (send what the schedule released, stamped with its intended time)
//! and closed loop (send as fast as the in-flight window allows).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use transport_core::{Envelope, Publisher, clock};

use super::recorder::latency_histogram;
use super::schedule::{Schedule, Window};

/// How long to wait after the last publish for acknowledgements of everything sent.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// What every publisher of a run shares.
#[derive(Debug, Clone)]
pub struct Publishing {
    /// Message size.
    pub payload_len: usize,
    /// Start of the measured window.
    pub measure_start_ns: u64,
    /// End of the measured window.
    pub measure_end_ns: u64,
    /// A publisher still behind schedule at this instant gives up on the rest.
    pub stop_at: Instant,
    /// Messages accepted so far, readable even if the publisher's task never returns.
    pub progress: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// What one publisher did.
#[derive(Debug)]
pub struct PublishOutcome<P> {
    /// The publisher, for closing.
    pub publisher: P,
    /// Messages accepted by the transport (sequence numbers 0..sent).
    pub sent: u64,
    /// Of those, messages intended inside the measured window.
    pub sent_in_window: u64,
    /// Messages the schedule called for but the publisher never sent (it fell too far behind).
    pub unsent: u64,
    /// Actual minus intended send time, measured window only.
    pub lag: Histogram<u64>,
    /// The error that stopped it, if any.
    pub error: Option<String>,
}

impl<P> PublishOutcome<P> {
    fn new(publisher: P) -> Self {
        PublishOutcome {
            publisher,
            sent: 0,
            sent_in_window: 0,
            unsent: 0,
            lag: latency_histogram(),
            error: None,
        }
    }
}

impl<P: Publisher> PublishOutcome<P> {
    /// Sends message `sent` stamped as intended at `intended_ns`; false on error (recorded).
    async fn send(&mut self, id: u32, intended_ns: u64, cfg: &Publishing) -> bool {
        let now = clock::now_ns();
        let env = Envelope {
            publisher: id,
            seq: self.sent,
            intended_ns,
            sent_ns: now,
        };
        if let Err(e) = self.publisher.publish(env.encode(cfg.payload_len)).await {
            self.error = Some(e.to_string());
            return false;
        }
        self.sent += 1;
        cfg.progress
            .store(self.sent, std::sync::atomic::Ordering::Relaxed);
        if (cfg.measure_start_ns..cfg.measure_end_ns).contains(&intended_ns) {
            self.sent_in_window += 1;
            self.lag
                .saturating_record(now.saturating_sub(intended_ns).max(1));
        }
        true
    }

    async fn finish(mut self) -> Self {
        if self.error.is_none() {
            match tokio::time::timeout(FLUSH_TIMEOUT, self.publisher.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => self.error = Some(format!("flush: {e}")),
                Err(_) => {
                    self.error = Some(format!("flush did not finish within {FLUSH_TIMEOUT:?}"))
                }
            }
        }
        self
    }
}

/// Sends every message the schedule releases to publisher `id`, each stamped with the time it
/// was *meant* to go out.
pub async fn open_loop<P: Publisher>(
    publisher: P,
    id: u32,
    schedule: std::sync::Arc<Schedule>,
    cfg: Publishing,
) -> PublishOutcome<P> {
    let mut out = PublishOutcome::new(publisher);
    let total = schedule.per_publisher();
    'run: while out.sent < total {
        let released = schedule.released(id);
        while out.sent < released {
            if Instant::now() > cfg.stop_at {
                break 'run;
            }
            let intended = schedule.intended_ns(id, out.sent);
            if !out.send(id, intended, &cfg).await {
                break 'run;
            }
        }
        if Instant::now() > cfg.stop_at {
            break;
        }
        schedule
            .wait_for_release(id, out.sent, Duration::from_millis(100))
            .await;
    }
    if out.error.is_none() {
        out.unsent = total - out.sent;
    }
    out.finish().await
}

/// Sends as fast as the window allows until `end`; intended time is the actual send time.
pub async fn closed_loop<P: Publisher>(
    publisher: P,
    id: u32,
    window: &Window,
    cfg: Publishing,
    end: Instant,
) -> PublishOutcome<P> {
    let mut out = PublishOutcome::new(publisher);
    while Instant::now() < end {
        if !window.acquire(end).await {
            break;
        }
        if !out.send(id, clock::now_ns(), &cfg).await {
            window.release_failed();
            break;
        }
    }
    out.finish().await
}
