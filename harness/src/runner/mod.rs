//! Runs a scenario's matrix, one transport at a time, and turns raw recordings into results.
//!
//! The matrix loop is in `matrix.rs` and the context a cell runs with in `ctx.rs`; the phases
//! of one cell live in `run.rs` (generic over the transport); the run's server handle in `server.rs` (a program we did not write, such as nginx, in
//! `program.rs`); the
//! open-loop timetable in `schedule.rs`; the publish phase and the publisher loops (where
//! messages are stamped) in `publish.rs`, with the closed-loop flow control it owns in
//! `flow.rs`; receive loops, drain and close in `clients.rs`; per-subscriber recording (the one
//! decode of each message) in `recorder.rs` (histogram shape in `results/histogram.rs`); the delivery
//! audit in `audit.rs`; firing faults and per-fault accounting in `faults.rs`; what a run hands
//! on in `output.rs`, and its reduction to a [`RunResult`](crate::results::RunResult) in
//! `aggregate.rs`, which `limits.rs` gives its `limited_by`. The rule pairing publishers and subscribers by topic is in `topic.rs`.
//!
//! This file only declares and re-exports: every item lives in a module of its own, so no
//! module here imports its parent while the parent imports it.

pub(crate) mod aggregate;
pub mod audit;
mod churn;
mod class_results;
mod clients;
mod consumers;
mod ctx;
pub(crate) mod faults;
pub(crate) mod flow;
mod lag;
mod limits;
pub(crate) mod matrix;
mod observe;
mod output;
pub(crate) mod program;
mod progress;
pub mod publish;
pub mod recorder;
pub(crate) mod resources;
pub(crate) mod restart;
mod run;
pub(crate) mod schedule;
pub(crate) mod server;
pub(crate) mod share;
pub(crate) mod storm;
mod timeline;
mod topic;

pub use ctx::{HostPlan, Remote, RunCtx};
pub use matrix::{Matrix, MatrixRun, run_cell, run_with};
pub use output::CellResult;
pub use progress::Progress;
pub use recorder::SubscriberRecorder;
