//! Broker options: what a scenario's `[transport.pull-log]` table can set for the embedded
//! broker. Defaults describe a sensible single-node deployment: memory storage, one partition
//! per topic, topics created on first use.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::BrokerError;

/// Where partition logs live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Storage {
    /// Batches are kept in memory only; a restart starts empty.
    #[default]
    Memory,
    /// Batches are also appended to segment files under `data_dir`, so a restarted broker
    /// keeps every acknowledged record.
    File,
}

/// Default `max_request_bytes`: 16 MiB. Kafka's own default (100 MiB) suits a broker with
/// per-client quotas; here any client may open connections, each of which can hold one
/// maximal frame, so the limit is kept to what a benchmark needs.
pub const DEFAULT_MAX_REQUEST_BYTES: u32 = 16 * 1024 * 1024;

/// Options of the embedded broker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// Partitions of an auto-created topic (and of CreateTopics with `num_partitions = -1`).
    pub partitions_per_topic: u32,
    /// Create a topic when a client first asks for it in Metadata or Produce.
    pub auto_create_topics: bool,
    /// Largest request frame accepted, in bytes; bigger frames close the connection. It also
    /// caps the memory a request's decoded arrays may take (see `guard.rs`), so one request
    /// costs a small multiple of this at most. Default 16 MiB: a benchmark's produce requests are a
    /// few MiB at most, and every open connection may buffer up to one maximal frame.
    pub max_request_bytes: u32,
    /// Memory or file storage.
    pub storage: Storage,
    /// Directory of segment files; required for `storage = "file"`.
    pub data_dir: Option<PathBuf>,
    /// Size at which a file segment is closed and a new one started, in bytes.
    pub segment_bytes: u64,
    /// Per-partition retention: oldest batches are dropped once a partition holds more bytes.
    pub retention_bytes: u64,
    /// Smallest session timeout a JoinGroup may ask for, in milliseconds.
    pub min_session_timeout_ms: u32,
    /// Largest session timeout a JoinGroup may ask for, in milliseconds.
    pub max_session_timeout_ms: u32,
    /// How long a new group waits for more members before its first rebalance completes.
    pub initial_rebalance_delay_ms: u32,
    /// Upper bound on a Fetch's `max_wait_ms`, so a parked fetch never outlives this.
    pub max_fetch_wait_ms: u32,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            partitions_per_topic: 1,
            auto_create_topics: true,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            storage: Storage::Memory,
            data_dir: None,
            segment_bytes: 64 * 1024 * 1024,
            retention_bytes: 1024 * 1024 * 1024,
            min_session_timeout_ms: 1_000,
            max_session_timeout_ms: 300_000,
            initial_rebalance_delay_ms: 0,
            max_fetch_wait_ms: 30_000,
        }
    }
}

impl BrokerConfig {
    /// Checks what serde cannot: ranges and the file-storage directory.
    pub fn validate(&self) -> Result<(), BrokerError> {
        let bad = |m: &str| Err(BrokerError::Config(m.to_owned()));
        if self.partitions_per_topic == 0 || self.partitions_per_topic > 10_000 {
            return bad("partitions_per_topic must be 1..=10000");
        }
        if self.max_request_bytes < 1024 {
            return bad("max_request_bytes must be at least 1024");
        }
        if self.storage == Storage::File && self.data_dir.is_none() {
            return bad("storage = \"file\" needs data_dir");
        }
        if self.segment_bytes < 1024 {
            return bad("segment_bytes must be at least 1024");
        }
        if self.min_session_timeout_ms > self.max_session_timeout_ms {
            return bad("min_session_timeout_ms must not exceed max_session_timeout_ms");
        }
        Ok(())
    }

    /// `max_fetch_wait_ms` as a duration.
    pub(crate) fn max_fetch_wait(&self) -> Duration {
        Duration::from_millis(u64::from(self.max_fetch_wait_ms))
    }
}
