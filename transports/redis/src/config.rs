//! The options of the two Redis transports (`[transport.redis-pubsub]`,
//! `[transport.redis-streams]`): the managed server's program, the clients' reconnect policy,
//! and for Streams the pull knobs (`count`, `block`, `maxlen`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use transport_core::{BackoffConfig, OptionDoc};

use crate::server::ServerOptions;

/// Options of `redis-pubsub`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PubSubConfig {
    /// The redis-server executable (a bare name is looked up on `PATH`).
    pub redis_server: String,
    /// How long redis-server may take to answer after starting.
    #[serde(with = "transport_core::duration")]
    pub startup_timeout: Duration,
    /// Reconnect backoff of publishers and subscribers after a broken connection.
    pub reconnect: BackoffConfig,
}

/// Options of `redis-streams`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamsConfig {
    /// The redis-server executable (a bare name is looked up on `PATH`).
    pub redis_server: String,
    /// How long redis-server may take to answer after starting.
    #[serde(with = "transport_core::duration")]
    pub startup_timeout: Duration,
    /// Reconnect backoff of publishers and subscribers after a broken connection.
    pub reconnect: BackoffConfig,
    /// `XREAD COUNT`: most entries one read returns.
    pub count: u32,
    /// `XREAD BLOCK`: how long the server holds a read that finds nothing new.
    #[serde(with = "transport_core::duration")]
    pub block: Duration,
    /// `XADD MAXLEN ~`: entries the stream keeps (roughly); what a resume can recover.
    pub maxlen: u64,
}

/// Redis answers a `BLOCK 0` read never; the bound keeps every wait finite.
const MAX_BLOCK: Duration = Duration::from_secs(3600);

impl Default for PubSubConfig {
    fn default() -> Self {
        PubSubConfig {
            redis_server: "redis-server".into(),
            startup_timeout: Duration::from_secs(20),
            reconnect: BackoffConfig::default(),
        }
    }
}

impl Default for StreamsConfig {
    fn default() -> Self {
        StreamsConfig {
            redis_server: "redis-server".into(),
            startup_timeout: Duration::from_secs(20),
            reconnect: BackoffConfig::default(),
            // As many as a pull-log fetch of 100-byte records carries by default, roughly.
            count: 1000,
            block: Duration::from_secs(1),
            // A one-second cut at 100K msg/s still resumes without loss.
            maxlen: 1_000_000,
        }
    }
}

impl PubSubConfig {
    /// Checks ranges serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        self.reconnect.validate("reconnect.")
    }

    /// What the managed server needs.
    pub fn server(&self) -> ServerOptions {
        ServerOptions {
            program: self.redis_server.clone(),
            startup_timeout: self.startup_timeout,
        }
    }
}

impl StreamsConfig {
    /// Checks ranges serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.count == 0 {
            return Err("count must be >= 1".into());
        }
        if self.block < Duration::from_millis(1) || self.block > MAX_BLOCK {
            return Err(
                "block must be between 1ms and 1h (Redis counts it in ms; 0 would block forever)"
                    .into(),
            );
        }
        if self.maxlen == 0 {
            return Err("maxlen must be >= 1".into());
        }
        self.reconnect.validate("reconnect.")
    }

    /// What the managed server needs.
    pub fn server(&self) -> ServerOptions {
        ServerOptions {
            program: self.redis_server.clone(),
            startup_timeout: self.startup_timeout,
        }
    }

    /// `block` in whole milliseconds, as `XREAD BLOCK` takes it.
    pub fn block_ms(&self) -> u64 {
        self.block.as_millis() as u64
    }
}

/// The options both transports have.
const COMMON: [OptionDoc; 4] = [
    OptionDoc {
        key: "address",
        default: "(none: start redis-server)",
        help: "HOST:PORT of a Redis someone else runs (as `run --server`); nothing is started",
    },
    OptionDoc {
        key: "redis_server",
        default: "\"redis-server\"",
        help: "the redis-server executable (Debian package redis-server)",
    },
    OptionDoc {
        key: "startup_timeout",
        default: "\"20s\"",
        help: "how long redis-server may take to answer after starting",
    },
    OptionDoc {
        key: "reconnect",
        default: "{ base = \"10ms\", cap = \"1s\", max_attempts = 25 }",
        help: "clients' reconnect backoff; max_attempts = 0 never gives up",
    },
];

/// Every option of `redis-pubsub`, for `transport-bench list`.
pub const PUBSUB_OPTIONS: &[OptionDoc] = &COMMON;

/// Every option of `redis-streams`, for `transport-bench list`.
pub const STREAMS_OPTIONS: &[OptionDoc] = &[
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    OptionDoc {
        key: "count",
        default: "1000",
        help: "XREAD COUNT: most entries one read returns (>= 1)",
    },
    OptionDoc {
        key: "block",
        default: "\"1s\"",
        help: "XREAD BLOCK: how long the server holds a read that finds nothing (1ms..=1h)",
    },
    OptionDoc {
        key: "maxlen",
        default: "1000000",
        help: "XADD MAXLEN ~: entries the stream keeps (>= 1); a resume past them counts the loss",
    },
];
