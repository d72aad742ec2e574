//! The options of the three Nchan transports (`[transport.nchan-long-poll]`,
//! `[transport.nchan-sse]`, `[transport.nchan-websocket]`): the managed nginx's settings, or the
//! address of an Nchan someone else runs, and the clients' reconnect policy.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use transport_core::{BackoffConfig, OptionDoc};

/// Where Debian's `libnginx-mod-nchan` puts the module.
pub const DEBIAN_MODULE: &str = "/usr/lib/nginx/modules/ngx_nchan_module.so";

/// Options shared by the three Nchan transports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NchanConfig {
    /// The nginx executable (a bare name is looked up on `PATH`).
    pub nginx: String,
    /// The Nchan module nginx loads.
    pub module: String,
    /// nginx `worker_processes`.
    pub worker_processes: u32,
    /// nginx `worker_connections` per worker (subscribers plus publishers plus slack).
    pub worker_connections: u32,
    /// `nchan_message_buffer_length`: messages kept per channel, what a resume can recover.
    pub message_buffer_length: u32,
    /// `nchan_message_timeout`: how long a buffered message is kept.
    #[serde(with = "transport_core::duration")]
    pub message_timeout: Duration,
    /// How long nginx may take to answer after starting.
    #[serde(with = "transport_core::duration")]
    pub startup_timeout: Duration,
    /// Subscribers' reconnect backoff (`base`, `cap`, `max_attempts`; 0 attempts: never give up).
    pub reconnect: BackoffConfig,
}

impl Default for NchanConfig {
    fn default() -> Self {
        NchanConfig {
            nginx: "nginx".into(),
            module: DEBIAN_MODULE.into(),
            worker_processes: 1,
            worker_connections: 8192,
            // Nchan's own default is 10; a one-second reset at 1K msg/s needs ~1,000.
            message_buffer_length: 10_000,
            message_timeout: Duration::from_secs(3600),
            startup_timeout: Duration::from_secs(20),
            reconnect: BackoffConfig::default(),
        }
    }
}

impl NchanConfig {
    /// Checks ranges serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.worker_processes == 0 || self.worker_processes > 64 {
            return Err("worker_processes must be 1..=64".into());
        }
        if self.worker_connections < 16 {
            return Err("worker_connections must be >= 16".into());
        }
        if self.message_buffer_length == 0 {
            return Err("message_buffer_length must be >= 1".into());
        }
        if self.message_timeout < Duration::from_secs(1) {
            return Err("message_timeout must be >= 1s (nginx counts it in seconds)".into());
        }
        self.reconnect.validate("reconnect.")
    }
}

/// Every option, for `transport-bench list`.
pub const OPTIONS: &[OptionDoc] = &[
    OptionDoc {
        key: "address",
        default: "(none: start nginx)",
        help: "HOST:PORT of an Nchan someone else runs (as `run --server`), with /pub/{channel} and /sub/{channel} locations as nginx::conf writes them; nothing is started",
    },
    OptionDoc {
        key: "nginx",
        default: "\"nginx\"",
        help: "the nginx executable (Debian package nginx-light or nginx)",
    },
    OptionDoc {
        key: "module",
        default: "\"/usr/lib/nginx/modules/ngx_nchan_module.so\"",
        help: "the Nchan module nginx loads (Debian package libnginx-mod-nchan)",
    },
    OptionDoc {
        key: "worker_processes",
        default: "1",
        help: "nginx worker_processes, 1..=64",
    },
    OptionDoc {
        key: "worker_connections",
        default: "8192",
        help: "nginx worker_connections per worker",
    },
    OptionDoc {
        key: "message_buffer_length",
        default: "10000",
        help: "nchan_message_buffer_length: messages kept per channel; a resume recovers at most these",
    },
    OptionDoc {
        key: "message_timeout",
        default: "\"1h\"",
        help: "nchan_message_timeout: how long buffered messages are kept",
    },
    OptionDoc {
        key: "startup_timeout",
        default: "\"20s\"",
        help: "how long nginx may take to answer after starting",
    },
    OptionDoc {
        key: "reconnect",
        default: "{ base = \"10ms\", cap = \"1s\", max_attempts = 25 }",
        help: "subscribers' reconnect backoff; max_attempts = 0 never gives up",
    },
];
