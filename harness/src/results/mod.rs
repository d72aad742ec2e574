//! Run results: the `summary.json` contract, and writing a results folder (summary, `.hgrm`
//! percentile files, HdrHistogram interval logs) atomically.

pub mod environment;
pub mod hgrm;
pub mod resources;
pub mod shards;
pub mod summary;
pub mod wire;
pub mod write;

pub use summary::{RunResult, RunStatus, SCHEMA_VERSION, Summary};
