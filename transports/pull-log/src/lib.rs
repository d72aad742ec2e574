//! `pull-log`: messages go into a partitioned log and subscribers *fetch* them, Kafka style.
//! The client here speaks the Kafka wire protocol (through `kafka-protocol`), to the embedded
//! broker in `broker/` (crate `transport-pull-log-broker`) or, with `bootstrap = "host:port"`,
//! to any Kafka-compatible single-node broker; the runner then starts no server.
//!
//! How the trait maps onto Kafka:
//! - a publisher is a producer writing one partition (`client_index % partitions`), batching
//!   by `linger` / `batch_max_bytes`, acknowledged per `acks`;
//! - a subscriber is a consumer; `subscriber()` returns once metadata is known and start
//!   offsets are resolved (log end, or the group's committed offsets after joining), so every
//!   later message reaches it; `recv` is one poll: one Fetch response (possibly empty);
//! - each message is one record, its value the message bytes, with no key;
//! - positions are tagged with the topic id (Metadata v10+) they were read under; after a
//!   reconnect, a new id (restarted memory broker, recreated topic) sends every position to the
//!   new log's start instead of into its middle (`incarnation.rs`).
//!
//! Concept → file: options `config.rs`; framing, correlation ids and version negotiation
//! `conn.rs`; record batches `records.rs`; metadata and offsets `cluster.rs`; topic
//! incarnations `incarnation.rs`; producer `producer.rs`; producer task with reconnect and
//! resend `producer_task.rs`; consumer `consumer/` (fetching in `fetch.rs`, resets in
//! `resets.rs`); group membership `group.rs` (task and hand-off) and `group_proto.rs` (the
//! coordinator requests), range assignment `assign.rs`.
//!
//! Counters: `produce_requests`, `fetches`, `empty_fetches`, `subscriber_reconnects`,
//! `publisher_reconnects`, `group_reconnects`, `epoch_resets` (a new incarnation of the topic
//! sent the positions to its start), `offset_resets` (a position out of range restarted at the
//! log start), and the distributions `records_per_fetch` and `batch_bytes` (bytes of each
//! produced record batch).

mod assign;
mod cluster;
mod config;
mod conn;
mod consumer;
mod group;
mod group_proto;
mod incarnation;
mod producer;
mod producer_task;
#[doc(hidden)]
/// Record-batch codec; public only for the benchmarks.
pub mod records;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use transport_core::{
    Capabilities, ClientContext, OptionDoc, ServerContext, ServerHandle, Transport, TransportError,
};
use transport_pull_log_broker::Broker;

pub use config::{Acks, CommitMode, PullLogConfig};
pub use consumer::PullLogSubscriber;
pub use producer::PullLogPublisher;
pub use transport_pull_log_broker::{BrokerConfig, Storage};

/// The pull-log transport.
#[derive(Debug, Clone, Copy, Default)]
pub struct PullLog;

/// The embedded broker as the runner's server.
#[derive(Debug)]
pub struct PullLogServer(Broker);

impl ServerHandle for PullLogServer {
    fn local_addr(&self) -> SocketAddr {
        self.0.local_addr()
    }

    async fn shutdown(self) -> Result<(), TransportError> {
        self.0.shutdown().await.map_err(TransportError::from)
    }

    async fn drain(&self) {
        self.0.drain().await;
    }
}

/// Bounds `f` by `limit`, reporting a timeout at `stage`.
pub(crate) async fn with_timeout<T>(
    stage: &'static str,
    limit: Duration,
    f: impl Future<Output = Result<T, TransportError>>,
) -> Result<T, TransportError> {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or(Err(TransportError::Timeout {
            stage,
            after_ms: limit.as_millis() as u64,
        }))
}

const OPTIONS: &[OptionDoc] = &[
    OptionDoc {
        key: "bootstrap",
        default: "(unset)",
        help: "\"host:port\" of an external Kafka-compatible broker; the runner then starts none",
    },
    OptionDoc {
        key: "broker",
        default: "{}",
        help: "embedded broker options: partitions_per_topic, storage = \"memory\"|\"file\", data_dir, ...",
    },
    OptionDoc {
        key: "linger",
        default: "\"0ms\"",
        help: "how long a batch waits for more messages before it is sent",
    },
    OptionDoc {
        key: "batch_max_bytes",
        default: "16384",
        help: "a batch is sent once its records reach this many bytes",
    },
    OptionDoc {
        key: "acks",
        default: "\"leader\"",
        help: "\"none\" (acks=0, no response), \"leader\" (acks=1) or \"all\" (acks=-1)",
    },
    OptionDoc {
        key: "max_in_flight_requests",
        default: "5",
        help: "produce requests pipelined per publisher; beyond that messages queue (publish waits once 4096 are queued)",
    },
    OptionDoc {
        key: "idempotent",
        default: "true",
        help: "idempotent producer (InitProducerId + sequences): a resend after a reset is not appended twice; at most 5 requests in flight",
    },
    OptionDoc {
        key: "fetch_min_bytes",
        default: "1",
        help: "a fetch returns once this many bytes are available",
    },
    OptionDoc {
        key: "fetch_max_wait",
        default: "\"500ms\"",
        help: "longest the broker parks a fetch below fetch_min_bytes",
    },
    OptionDoc {
        key: "fetch_max_bytes",
        default: "52428800",
        help: "upper bound on one fetch response",
    },
    OptionDoc {
        key: "partition_fetch_max_bytes",
        default: "1048576",
        help: "upper bound per partition in a fetch response",
    },
    OptionDoc {
        key: "max_records_per_poll",
        default: "(unset)",
        help: "records one recv returns at most; the rest wait for the next recv",
    },
    OptionDoc {
        key: "commit",
        default: "\"auto\"",
        help: "group offset commits: \"auto\" (every auto_commit_interval), \"after-batch\" or \"none\"",
    },
    OptionDoc {
        key: "auto_commit_interval",
        default: "\"5s\"",
        help: "commit period with commit = \"auto\"",
    },
    OptionDoc {
        key: "group",
        default: "(unset)",
        help: "consumer group id; unset: every subscriber reads every partition",
    },
    OptionDoc {
        key: "session_timeout",
        default: "\"10s\"",
        help: "a silent group member is removed after this long",
    },
    OptionDoc {
        key: "heartbeat_interval",
        default: "\"500ms\"",
        help: "how often a group member heartbeats (and notices rebalances)",
    },
    OptionDoc {
        key: "rebalance_timeout",
        default: "\"10s\"",
        help: "how long a rebalance waits for members to rejoin",
    },
    OptionDoc {
        key: "request_timeout",
        default: "\"30s\"",
        help: "bound on every request other than a parked fetch's wait",
    },
    OptionDoc {
        key: "reconnect_base",
        default: "\"10ms\"",
        help: "first reconnect window after a broken connection; doubles per failure, full jitter (uniform in 0..window); retrying stops after request_timeout",
    },
    OptionDoc {
        key: "reconnect_cap",
        default: "\"1s\"",
        help: "largest reconnect window",
    },
];

impl Transport for PullLog {
    const NAME: &'static str = "pull-log";
    type Config = PullLogConfig;
    type Server = PullLogServer;
    type Publisher = PullLogPublisher;
    type Subscriber = PullLogSubscriber;

    fn options() -> &'static [OptionDoc] {
        OPTIONS
    }

    fn capabilities() -> Capabilities {
        Capabilities { resumes: true }
    }

    fn validate(config: &PullLogConfig) -> Result<(), String> {
        config::validate(config)?;
        config.broker.validate().map_err(|e| e.to_string())
    }

    fn external_address(config: &PullLogConfig) -> Option<String> {
        config.bootstrap.clone()
    }

    async fn serve(
        config: &PullLogConfig,
        listener: TcpListener,
        ctx: ServerContext,
    ) -> Result<PullLogServer, TransportError> {
        let broker = Broker::start(config.broker.clone(), listener, ctx).await?;
        Ok(PullLogServer(broker))
    }

    async fn publisher(
        config: &PullLogConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<PullLogPublisher, TransportError> {
        PullLogPublisher::connect(config, addr, topic, ctx).await
    }

    async fn subscriber(
        config: &PullLogConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<PullLogSubscriber, TransportError> {
        PullLogSubscriber::connect(config, addr, topic, ctx).await
    }
}

#[cfg(test)]
mod tests;
