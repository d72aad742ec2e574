//! Consumers that fall behind: a gate on one subscriber's socket reads that makes it read
//! slowly, pause, read in batches, or go offline, as the scenario's consumer classes ask.
//!
//! The gate acts at the socket, inside [`crate::CountingIo`], not in the harness's receive
//! loop: a subscriber that stops calling `recv` would still have its client library (hyper's
//! connection task, a WebSocket reader) drain the socket into memory, and the server would
//! never see a slow reader. Throttled at the socket, the kernel's receive and send buffers fill
//! and then the server's own queues, as they would for a slow device or a phone in a pocket.
//!
//! A gate belongs to one subscriber and outlives its connections, so a reconnect does not
//! reset its read budget. The same gate carries the subscriber's *churn* (a scenario's `churn`
//! fault): instants at which whatever connection it has then breaks, once, and the client
//! reconnects and resumes at once; and it logs the subscriber's connection attempts, so a
//! storm's re-convergence and accept rate are read from the clients that lived it. It does nothing until [`ReadGate::arm`]ed with the measured window,
//! and nothing after the window ends: once publishing stops every consumer reads at full speed,
//! so what it still had queued is delivered (or counted lost by the transport's policy), never
//! left in limbo.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::clock;

/// What a gated subscriber does during the measured window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateBehaviour {
    /// Reads as fast as it can (a subscriber gated only for its churn and connection log).
    Full,
    /// Reads at most this many bytes per second.
    Slow {
        /// The read budget.
        bytes_per_sec: u64,
    },
    /// Reads nothing from `at` (after the window starts) for `length`, then catches up.
    Paused {
        /// When the pause starts, from the start of the window.
        at: Duration,
        /// How long it lasts.
        length: Duration,
    },
    /// Reads only at every multiple of `interval`, and then everything that is there.
    Batch {
        /// Time between reads.
        interval: Duration,
    },
    /// Its connection breaks at `at`, and it cannot connect again before `at + length`.
    Offline {
        /// When the connection breaks, from the start of the window.
        at: Duration,
        /// How long it stays away.
        length: Duration,
    },
}

/// What churn does to one connection at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Churn {
    /// A cut has come since the connection opened: it breaks.
    Cut,
    /// It lives on; wake at the next cut (clock ns), if there is one.
    Next(Option<u64>),
}

/// What the gate says about one read attempt at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Read freely; if `wake_at` is set, re-ask then even if no data arrives (a read waiting
    /// for data must notice that the consumer went offline).
    Pass {
        /// When the answer may change, clock ns.
        wake_at: Option<u64>,
    },
    /// Read at most this many bytes.
    Limit(usize),
    /// Read nothing before this instant, clock ns.
    WaitUntil(u64),
    /// The consumer is offline: fail the read so the client drops its connection.
    Drop,
}

impl Verdict {
    /// The verdict, woken no later than the next churn cut (if any), so a read waiting for
    /// data or for its budget notices the cut on time.
    pub fn until_cut(self, next_cut: Option<u64>) -> Verdict {
        let Some(cut) = next_cut else {
            return self;
        };
        match self {
            Verdict::Pass { wake_at } => Verdict::Pass {
                wake_at: Some(wake_at.map_or(cut, |w| w.min(cut))),
            },
            Verdict::WaitUntil(t) => Verdict::WaitUntil(t.min(cut)),
            v => v,
        }
    }
}

/// Smallest read a slow reader waits for, so that a low budget does not become a stream of
/// one-byte reads (and wake-ups).
const MIN_SLOW_READ: u64 = 512;
/// Largest burst a slow reader may take after waiting.
const MAX_SLOW_READ: u64 = 64 * 1024;

/// One client's gate (a subscriber's, or a churned publisher's); shared by its connections.
#[derive(Debug)]
pub struct ReadGate {
    behaviour: GateBehaviour,
    /// The receive buffer its sockets get (`SO_RCVBUF`), if fixed.
    recv_buffer: Option<u32>,
    /// Start of the measured window, clock ns; 0 until armed.
    start_ns: AtomicU64,
    /// End of the measured window, clock ns.
    end_ns: AtomicU64,
    /// Bytes a slow reader has read inside the window.
    consumed: AtomicU64,
    /// One past the last batch tick whose read found the socket empty (0: none yet).
    closed_tick: AtomicU64,
    /// When its connection breaks for churn, from the start of the window, in time order.
    cuts: Vec<Duration>,
    /// Cuts that broke a connection.
    cuts_done: AtomicU64,
    /// When each of its connections was established, clock ns.
    connected_at: Mutex<Vec<u64>>,
    /// Whether it gates a publisher (churned, never throttled) rather than a subscriber.
    publisher: bool,
}

impl ReadGate {
    /// A gate for `behaviour`, inactive until armed; its sockets keep the kernel's receive
    /// buffer autotuning.
    pub fn new(behaviour: GateBehaviour) -> ReadGate {
        ReadGate {
            behaviour,
            recv_buffer: None,
            start_ns: AtomicU64::new(0),
            end_ns: AtomicU64::new(0),
            consumed: AtomicU64::new(0),
            closed_tick: AtomicU64::new(0),
            cuts: Vec::new(),
            cuts_done: AtomicU64::new(0),
            connected_at: Mutex::new(Vec::new()),
            publisher: false,
        }
    }

    /// A publisher's gate: it reads at full speed and only carries its churn cuts and
    /// connection log (a publisher's reads are its acknowledgements and replies, so a cut
    /// breaks the connection at its next one, as for a subscriber).
    pub fn publisher() -> ReadGate {
        ReadGate {
            publisher: true,
            ..ReadGate::new(GateBehaviour::Full)
        }
    }

    /// Whether it gates a publisher.
    pub fn is_publisher(&self) -> bool {
        self.publisher
    }

    /// Breaks the subscriber's connection at each of `cuts` (from the start of the window).
    pub fn with_cuts(mut self, mut cuts: Vec<Duration>) -> ReadGate {
        cuts.sort();
        self.cuts = cuts;
        self
    }

    /// When its connection breaks for churn, absolute clock ns (empty until armed).
    pub fn cut_instants(&self) -> Vec<u64> {
        match self.window() {
            Some((start, _)) => self.cuts.iter().map(|&c| start + nanos(c)).collect(),
            None => Vec::new(),
        }
    }

    /// How many cuts broke a connection.
    pub fn cuts_done(&self) -> u64 {
        self.cuts_done.load(Relaxed)
    }

    /// Notes a new connection, established now.
    pub fn connected(&self, now_ns: u64) {
        self.connected_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(now_ns);
    }

    /// When each of its connections was established, clock ns.
    pub fn connections(&self) -> Vec<u64> {
        self.connected_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Churn for a connection opened at `opened_ns`, at `now_ns`: cut when a cut has come
    /// since it opened (the read must fail), else the next cut to wake for, if any.
    pub fn churn(&self, opened_ns: u64, now_ns: u64) -> Churn {
        let Some((start, end)) = self.window().filter(|_| !self.cuts.is_empty()) else {
            return Churn::Next(None);
        };
        let mut next = None;
        for at in self.cuts.iter().map(|&c| start + nanos(c)) {
            if at >= end {
                break;
            }
            if at > now_ns {
                next = Some(at);
                break;
            }
            if at > opened_ns {
                return Churn::Cut;
            }
        }
        Churn::Next(next)
    }

    /// Counts a connection broken by a cut.
    pub fn cut_done(&self) {
        self.cuts_done.fetch_add(1, Relaxed);
    }

    /// Fixes the receive buffer of the consumer's sockets (see
    /// [`crate::SocketOptions::connect_with`]).
    pub fn with_recv_buffer(mut self, bytes: Option<u32>) -> ReadGate {
        self.recv_buffer = bytes;
        self
    }

    /// The receive buffer its sockets get, if fixed.
    pub fn recv_buffer(&self) -> Option<u32> {
        self.recv_buffer
    }

    /// The behaviour it applies.
    pub fn behaviour(&self) -> GateBehaviour {
        self.behaviour
    }

    /// Applies the behaviour over the measured window `[start_ns, end_ns)` (clock ns).
    pub fn arm(&self, start_ns: u64, end_ns: u64) {
        self.end_ns.store(end_ns, Relaxed);
        self.start_ns.store(start_ns.max(1), Relaxed);
    }

    /// The window, if armed.
    fn window(&self) -> Option<(u64, u64)> {
        let start = self.start_ns.load(Relaxed);
        (start != 0).then(|| (start, self.end_ns.load(Relaxed)))
    }

    /// Whether the consumer may read now, and how much.
    pub fn verdict(&self, now_ns: u64) -> Verdict {
        let Some((start, end)) = self.window() else {
            return Verdict::Pass { wake_at: None };
        };
        if now_ns >= end {
            return Verdict::Pass { wake_at: None };
        }
        let since = now_ns.saturating_sub(start);
        match self.behaviour {
            GateBehaviour::Full => Verdict::Pass { wake_at: None },
            GateBehaviour::Slow { bytes_per_sec } if now_ns >= start => {
                self.slow(bytes_per_sec, (now_ns, since), end)
            }
            GateBehaviour::Paused { at, length } => {
                let (from, until) = span(start, at, length);
                if (from..until).contains(&now_ns) {
                    Verdict::WaitUntil(until.min(end))
                } else {
                    Verdict::Pass { wake_at: None }
                }
            }
            GateBehaviour::Batch { interval } if now_ns >= start => {
                self.batch(start, since, nanos(interval), end)
            }
            GateBehaviour::Offline { at, length } => {
                let (from, until) = span(start, at, length);
                match now_ns {
                    n if n < from => Verdict::Pass {
                        wake_at: Some(from),
                    },
                    n if n < until => Verdict::Drop,
                    _ => Verdict::Pass { wake_at: None },
                }
            }
            _ => Verdict::Pass {
                wake_at: Some(start),
            },
        }
    }

    /// `at` is (now, time since the window started), clock ns.
    fn slow(&self, bytes_per_sec: u64, (now, since_ns): (u64, u64), end: u64) -> Verdict {
        let chunk = (bytes_per_sec / 20).clamp(MIN_SLOW_READ, MAX_SLOW_READ);
        let earned = (u128::from(bytes_per_sec) * u128::from(since_ns) / 1_000_000_000) as u64;
        let budget = (earned + chunk).saturating_sub(self.consumed.load(Relaxed));
        if budget >= chunk.min(MIN_SLOW_READ) {
            return Verdict::Limit(budget.min(MAX_SLOW_READ) as usize);
        }
        // Wait until a whole small read is earned.
        let short = chunk.min(MIN_SLOW_READ) - budget;
        let wait = (u128::from(short) * 1_000_000_000).div_ceil(u128::from(bytes_per_sec.max(1)));
        Verdict::WaitUntil((now + wait as u64).min(end))
    }

    fn batch(&self, start: u64, since_ns: u64, interval: u64, end: u64) -> Verdict {
        let tick = since_ns / interval.max(1);
        if self.closed_tick.load(Relaxed) > tick {
            // This tick's read already found the socket empty: wait for the next tick.
            Verdict::WaitUntil((start + (tick + 1) * interval).min(end))
        } else {
            Verdict::Pass { wake_at: None }
        }
    }

    /// Counts `n` bytes read under a [`Verdict::Limit`].
    pub fn consumed(&self, n: usize) {
        self.consumed.fetch_add(n as u64, Relaxed);
    }

    /// Tells a batch reader that its read found nothing more: it waits for the next tick.
    pub fn drained(&self, now_ns: u64) {
        if let (GateBehaviour::Batch { interval }, Some((start, end))) =
            (self.behaviour, self.window())
            && (start..end).contains(&now_ns)
        {
            let tick = (now_ns - start) / nanos(interval).max(1);
            self.closed_tick.fetch_max(tick + 1, Relaxed);
        }
    }

    /// Waits until the consumer may connect (an offline consumer stays away until its time is
    /// up); returns at once for every other behaviour.
    pub async fn online(&self) {
        if let Verdict::Drop = self.verdict(clock::now_ns())
            && let (GateBehaviour::Offline { at, length }, Some((start, _))) =
                (self.behaviour, self.window())
        {
            let (_, until) = span(start, at, length);
            tokio::time::sleep_until(clock::instant_at(until).into()).await;
        }
    }

    /// The error a read gets when churn breaks the connection.
    pub fn churn_error() -> io::Error {
        io::Error::new(
            io::ErrorKind::ConnectionReset,
            "the connection was cut (scenario churn fault)",
        )
    }

    /// The error a read gets while the consumer is offline.
    pub fn offline_error() -> io::Error {
        io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the consumer went offline (scenario consumer class)",
        )
    }
}

/// `[start + at, start + at + length)` in clock ns.
fn span(start: u64, at: Duration, length: Duration) -> (u64, u64) {
    let from = start.saturating_add(nanos(at));
    (from, from.saturating_add(nanos(length)))
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn armed(b: GateBehaviour) -> ReadGate {
        let g = ReadGate::new(b);
        g.arm(10 * S, 20 * S);
        g
    }

    #[test]
    fn unarmed_and_after_the_window_reads_freely() {
        let g = ReadGate::new(GateBehaviour::Slow { bytes_per_sec: 1 });
        assert_eq!(g.verdict(5 * S), Verdict::Pass { wake_at: None });
        g.arm(10 * S, 20 * S);
        assert_eq!(g.verdict(25 * S), Verdict::Pass { wake_at: None });
        assert_eq!(
            g.verdict(5 * S),
            Verdict::Pass {
                wake_at: Some(10 * S)
            }
        );
    }

    #[test]
    fn a_slow_reader_never_reads_more_than_its_budget_plus_one_burst() {
        let g = armed(GateBehaviour::Slow {
            bytes_per_sec: 10_240,
        });
        let mut read = 0u64;
        let mut now = 10 * S;
        while now < 15 * S {
            match g.verdict(now) {
                Verdict::Limit(n) => {
                    g.consumed(n);
                    read += n as u64;
                }
                Verdict::WaitUntil(t) => {
                    assert!(t > now, "a wait must move time forward");
                    now = t;
                }
                v => panic!("unexpected {v:?}"),
            }
        }
        let budget = 5 * 10_240 + 10_240 / 20;
        assert!(read <= budget, "read {read} > {budget}");
        assert!(
            read >= 5 * 10_240 - 1024,
            "read {read}: the budget went unused"
        );
    }

    #[test]
    fn a_pause_waits_until_it_ends() {
        let g = armed(GateBehaviour::Paused {
            at: Duration::from_secs(2),
            length: Duration::from_secs(3),
        });
        assert_eq!(g.verdict(11 * S), Verdict::Pass { wake_at: None });
        assert_eq!(g.verdict(13 * S), Verdict::WaitUntil(15 * S));
        assert_eq!(g.verdict(15 * S), Verdict::Pass { wake_at: None });
    }

    #[test]
    fn a_batch_reader_reads_once_per_tick_until_empty() {
        let g = armed(GateBehaviour::Batch {
            interval: Duration::from_secs(1),
        });
        let t = 10 * S + S / 2;
        assert_eq!(g.verdict(t), Verdict::Pass { wake_at: None });
        g.drained(t);
        assert_eq!(g.verdict(t + 1), Verdict::WaitUntil(11 * S));
        assert_eq!(g.verdict(11 * S), Verdict::Pass { wake_at: None });
    }

    #[test]
    fn offline_drops_then_comes_back() {
        let g = armed(GateBehaviour::Offline {
            at: Duration::from_secs(1),
            length: Duration::from_secs(2),
        });
        assert_eq!(
            g.verdict(10 * S),
            Verdict::Pass {
                wake_at: Some(11 * S)
            }
        );
        assert_eq!(g.verdict(12 * S), Verdict::Drop);
        assert_eq!(g.verdict(13 * S), Verdict::Pass { wake_at: None });
    }

    #[test]
    fn churn_breaks_only_connections_opened_before_a_cut() {
        let g = ReadGate::new(GateBehaviour::Full)
            .with_cuts(vec![Duration::from_secs(3), Duration::from_secs(1)]);
        assert_eq!(g.churn(0, 5 * S), Churn::Next(None), "unarmed: no churn");
        g.arm(10 * S, 20 * S);
        assert_eq!(g.cut_instants(), vec![11 * S, 13 * S]);
        assert_eq!(
            g.churn(9 * S, 10 * S),
            Churn::Next(Some(11 * S)),
            "wake for the first cut"
        );
        assert_eq!(g.churn(9 * S, 11 * S), Churn::Cut, "opened before the cut");
        assert_eq!(
            g.churn(11 * S + 1, 12 * S),
            Churn::Next(Some(13 * S)),
            "a reconnection after the cut lives until the next"
        );
        assert_eq!(g.churn(11 * S + 1, 14 * S), Churn::Cut);
        assert_eq!(g.churn(13 * S + 1, 25 * S), Churn::Next(None));
        assert_eq!(g.verdict(12 * S), Verdict::Pass { wake_at: None });
    }
}
