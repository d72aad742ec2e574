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
//! - [`fault`]: the fault schedule's model, the task that fires it (including restarting the
//!   server on the same port), and per-fault accounting (recovery time, reconnects, lost and
//!   duplicated messages attributed to the fault).

pub mod fault;
pub mod proxy;
pub mod shape;
pub mod tally;

pub use fault::{Fault, FaultKind, FaultTarget, Fired, ServerSlot};
pub use proxy::{LinkProxy, ProxyStats, Side};
pub use shape::LinkConfig;
pub use tally::{FaultTracker, SubscriberTally};
