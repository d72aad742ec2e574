//! Network conditions and faults: a link emulator between every client and the server, and a
//! fault schedule fired during the measured window.
//!
//! Loopback makes every pattern look instant; the differences users care about appear on real
//! links (a long-poll pays a round trip between a reply and its next request) and when
//! connections break (where messages get lost). Everything here runs in-process: no root, no
//! `tc`, no system tools.
//!
//! - [`shape`]: delay, jitter and bandwidth arithmetic.
//! - [`proxy`]: the TCP relay that applies it, and resets or blackholes connections on command.
//! - [`fault`]: the fault schedule's model (kinds, targets) and the restartable server slot a
//!   `server-restart` fault acts on.
//!
//! Firing the schedule during a run and the per-fault accounting (recovery time, reconnects,
//! lost and duplicated messages attributed to each fault) belong to the runner:
//! `runner/faults.rs`. This folder knows nothing of the runner.

pub(crate) mod fault;
pub(crate) mod proxy;
pub(crate) mod shape;

pub use fault::{ChurnRate, Fault, FaultKind, FaultTarget, RestartSignal, ServerSlot, churn_cuts};
pub use proxy::{LinkProxy, ProxyStats, Side};
pub use shape::LinkConfig;
