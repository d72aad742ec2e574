//! An embedded, single-node Kafka-protocol broker for the pull-log transport.
//!
//! It speaks enough of the Kafka wire protocol for real clients (librdkafka's `kcat`, the
//! pull-log transport's own client) to produce, fetch and consume in groups: ApiVersions,
//! Metadata, Produce, Fetch (with parking), ListOffsets, CreateTopics, InitProducerId (idempotent
//! producers), and the classic consumer group APIs. Partitions are append-only logs of record batches kept as bytes, in memory or
//! in segment files.
//!
//! Concept → file: size-prefixed frames (shared with the client) `frame.rs`; request headers
//! `header.rs`; hostile-count guard `guard.rs` + `schema.rs`;
//! batches `batch.rs`; partition log `log.rs`; idempotent producer state `producer_state.rs`; segment files `segment.rs`; topics `topics.rs`; topic ids `topic_id.rs`;
//! dispatch `api/mod.rs`; fetch parking `api/fetch.rs`; group state machine `group.rs`;
//! accept loop and shutdown `server.rs`.

mod api;
mod batch;
mod config;
mod error;
pub mod frame;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod group;
mod guard;
mod header;
mod log;
mod producer_state;
mod schema;
mod segment;
mod server;
mod state;
mod topic_id;
mod topics;

pub use config::{BrokerConfig, DEFAULT_MAX_REQUEST_BYTES, Storage};
pub use error::BrokerError;
pub use server::Broker;
