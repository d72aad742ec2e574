//! Run results: the `summary.json` contract, and writing a results folder (summary, `.hgrm`
//! percentile files, HdrHistogram interval logs) atomically.
//!
//! A run's entry (`run.rs`) is made of parts, one file each: `latency.rs` (with the histogram
//! reductions the runner and `merge` share, over the one histogram shape of `histogram.rs`),
//! `wire.rs` (traffic), `failures.rs`, `faults.rs`, `consumers.rs` (figures per consumer class), `cost.rs`
//! (with `resources.rs`) and `browser.rs`.

pub(crate) mod browser;
pub(crate) mod consumers;
pub(crate) mod cost;
pub mod environment;
pub(crate) mod failures;
pub(crate) mod faults;
pub(crate) mod hgrm;
pub(crate) mod histogram;
pub(crate) mod latency;
pub(crate) mod limits;
pub(crate) mod resources;
pub(crate) mod run;
pub mod shards;
pub mod summary;
pub(crate) mod wire;
pub mod write;

pub use failures::{Failure, FailureKind, Failures};
pub use run::{RunResult, RunStatus};
pub use summary::{SCHEMA_VERSION, Summary};
