//! transport-bench: measures HTTP long polling, WebSockets, Server-Sent Events and a Kafka-style
//! pull-fetch log under the same open-loop workload, with the raw-TCP floor beside them.
//!
//! The harness owns time, payloads, schedules and accounting; transports (see
//! `transport_core::Transport`) own only the wire. Modules, in the order a run flows through them:
//! [`scenario`] (what to run) → [`registry`] (which transport type) → [`runner`] (how) → [`results`] → [`charts`], [`report`] and
//! [`compare`]; [`cli`] ties them to the `transport-bench` binary, whose exit codes are in
//! [`exit`].
//!
//! Modules the binary, benches and tests do not reach are `pub(crate)`, so the compiler sees
//! what nothing uses.

pub mod affinity;
pub(crate) mod browser;
pub mod charts;
pub mod cli;
pub mod compare;
pub mod exit;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod limits;
pub mod link;
pub mod merge;
pub(crate) mod metric;
pub mod registry;
pub mod report;
pub mod results;
pub mod runner;
pub mod scenario;
pub mod server;
pub(crate) mod shard;
pub(crate) mod text;
