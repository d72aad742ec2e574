//! How a [`CountingIo`] applies its client's gate ([`ReadGate`]): reads held back until a
//! timer fires, limited to a budget, or failed while the consumer is offline or when churn
//! cuts the connection; and a churned publisher's writes, which fail at its cut too.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use super::CountingIo;
use crate::clock;
use crate::gate::{Churn, ReadGate, Verdict};

/// A consumer's read gate, and the timer a read it holds back waits on.
#[derive(Debug)]
pub(super) struct Gated {
    gate: Arc<ReadGate>,
    /// When this connection was made, clock ns: churn breaks connections older than a cut.
    opened_ns: u64,
    /// Whether churn has broken it (counted once; shared by a split connection's halves).
    cut: Arc<AtomicBool>,
    timer: Option<(u64, Pin<Box<tokio::time::Sleep>>)>,
    /// Where a read limited below the caller's buffer lands first.
    scratch: Vec<u8>,
}

impl Gated {
    /// The gate of a connection opened at `opened_ns` (clock ns).
    pub(super) fn new(gate: Arc<ReadGate>, opened_ns: u64) -> Gated {
        Gated {
            gate,
            opened_ns,
            cut: Arc::new(AtomicBool::new(false)),
            timer: None,
            scratch: Vec::new(),
        }
    }

    /// The same connection's gate for its write half: a publisher's only (see
    /// [`CountingIo::publisher_cut`]).
    pub(super) fn for_writes(&self) -> Option<Gated> {
        self.gate.is_publisher().then(|| Gated {
            gate: self.gate.clone(),
            opened_ns: self.opened_ns,
            cut: self.cut.clone(),
            timer: None,
            scratch: Vec::new(),
        })
    }

    /// Churn for this connection now; a cut is counted once, however often it is asked.
    fn churn(&mut self, now_ns: u64) -> Churn {
        let churn = self.gate.churn(self.opened_ns, now_ns);
        if churn == Churn::Cut && !self.cut.swap(true, Relaxed) {
            self.gate.cut_done();
        }
        churn
    }

    /// Registers a wake-up at `at_ns`; false if that instant has already passed.
    fn wait(&mut self, at_ns: u64, cx: &mut Context<'_>) -> bool {
        let deadline = tokio::time::Instant::from_std(clock::instant_at(at_ns));
        match &mut self.timer {
            Some((at, sleep)) if *at == at_ns => {}
            Some((at, sleep)) => {
                *at = at_ns;
                sleep.as_mut().reset(deadline);
            }
            None => self.timer = Some((at_ns, Box::pin(tokio::time::sleep_until(deadline)))),
        }
        let Some((_, sleep)) = &mut self.timer else {
            return false;
        };
        sleep.as_mut().poll(cx).is_pending()
    }
}

impl<T: AsyncRead + Unpin> CountingIo<T> {
    /// A read as the consumer's gate allows it: held back until a timer fires, limited to a
    /// budget, or failed while the consumer is offline.
    pub(super) fn poll_gated_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let Some(gated) = self.gate.as_mut() else {
                return self.poll_counted_read(cx, buf);
            };
            let now = clock::now_ns();
            let next_cut = match gated.churn(now) {
                Churn::Next(next) => next,
                Churn::Cut => return Poll::Ready(Err(ReadGate::churn_error())),
            };
            match gated.gate.verdict(now).until_cut(next_cut) {
                Verdict::Drop => return Poll::Ready(Err(ReadGate::offline_error())),
                Verdict::WaitUntil(at) => {
                    if gated.wait(at, cx) {
                        return Poll::Pending;
                    }
                }
                Verdict::Limit(n) => return self.poll_limited_read(cx, buf, n),
                Verdict::Pass { wake_at } => {
                    if let Some(at) = wake_at
                        && !gated.wait(at, cx)
                    {
                        continue;
                    }
                    let gate = gated.gate.clone();
                    let res = self.poll_counted_read(cx, buf);
                    if res.is_ready() {
                        return res;
                    }
                    // Nothing more to read: a batch reader now waits for its next tick.
                    gate.drained(now);
                    if let Verdict::Pass { .. } = gate.verdict(now) {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    /// Reads at most `limit` bytes, counting them against the gate's budget.
    fn poll_limited_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        limit: usize,
    ) -> Poll<io::Result<()>> {
        let Some(gated) = self.gate.as_mut() else {
            return self.poll_counted_read(cx, buf);
        };
        let gate = gated.gate.clone();
        if buf.remaining() <= limit {
            let before = buf.filled().len();
            let res = self.poll_counted_read(cx, buf);
            gate.consumed(buf.filled().len() - before);
            return res;
        }
        let mut scratch = std::mem::take(&mut gated.scratch);
        scratch.resize(limit, 0);
        let mut part = ReadBuf::new(&mut scratch);
        let res = self.poll_counted_read(cx, &mut part);
        let n = part.filled().len();
        buf.put_slice(part.filled());
        gate.consumed(n);
        if let Some(gated) = self.gate.as_mut() {
            gated.scratch = scratch;
        }
        res
    }
}

impl<T> CountingIo<T> {
    /// Whether a churned publisher's connection has been cut: its writes fail then, since a
    /// publisher may write for long stretches without reading (a subscriber's cut is noticed
    /// by its reads, which the gate wakes at the cut).
    pub(super) fn publisher_cut(&mut self) -> bool {
        match self.gate.as_mut() {
            Some(g) if g.gate.is_publisher() => g.churn(clock::now_ns()) == Churn::Cut,
            _ => false,
        }
    }
}
