//! The `[transport.sse]` options: the event stream's own (keep-alive, `retry:`, payload
//! encoding) and the ones it shares with long polling, whose server and publisher it reuses.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use transport_core::OptionDoc;
use transport_core::backoff;
use transport_long_poll::config::{DEFAULT_STREAMS_PER_CONNECTION, check_streams};
use transport_long_poll::{HttpVersion, LongPollConfig};

/// How a payload is carried in an event's `data:` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataEncoding {
    /// Standard base64: any bytes, a third larger.
    #[default]
    Base64,
    /// The payload as text, for UTF-8 payloads without CR or LF (the server refuses others
    /// with a `bad-payload` event, which the client counts as lost).
    Text,
}

/// Options of the SSE transport (`[transport.sse]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SseConfig {
    /// A comment line (`:`) is sent when nothing else was for this long, so proxies and
    /// clients see a live stream; its bytes are idle cost.
    #[serde(with = "transport_core::duration")]
    pub keepalive_interval: Duration,
    /// The `retry:` the server announces: how long a client waits before reconnecting.
    #[serde(with = "transport_core::duration")]
    pub retry: Duration,
    /// How payloads are carried in `data:`.
    pub data_encoding: DataEncoding,
    /// Messages retained per topic; a `Last-Event-ID` older than that gets a `gone` event.
    pub retention_messages: u32,
    /// Largest publish body the server accepts.
    pub max_body_bytes: u32,
    /// Most messages a publisher puts in one POST (as `long-poll`'s `publish_batch`).
    pub publish_batch: u32,
    /// Most events the server writes with one flush.
    pub max_events_per_write: u32,
    /// Consecutive failed reconnects after which a client gives up (0: never).
    pub reconnect_max_attempts: u32,
    /// The largest reconnect window: a client's wait starts from the announced `retry` and
    /// doubles per failed attempt up to this, with full jitter.
    #[serde(with = "transport_core::duration")]
    pub reconnect_cap: Duration,
    /// The HTTP version clients speak (publishers' POSTs and subscribers' streams).
    pub http: HttpVersion,
    /// With `http = "2"`: how many subscribers of a run share one connection, each stream one
    /// of them (a subscriber whose reads are gated has one of its own).
    pub streams_per_connection: u32,
}

impl Default for SseConfig {
    fn default() -> Self {
        SseConfig {
            keepalive_interval: Duration::from_secs(15),
            retry: Duration::from_millis(100),
            data_encoding: DataEncoding::Base64,
            retention_messages: 100_000,
            max_body_bytes: 1 << 20,
            publish_batch: 256,
            max_events_per_write: 256,
            reconnect_max_attempts: backoff::DEFAULT_MAX_ATTEMPTS,
            reconnect_cap: backoff::DEFAULT_CAP,
            http: HttpVersion::Http11,
            streams_per_connection: DEFAULT_STREAMS_PER_CONNECTION,
        }
    }
}

impl SseConfig {
    /// Checks ranges serde cannot; the message names the option.
    pub fn validate(&self) -> Result<(), String> {
        if self.keepalive_interval.is_zero() {
            return Err("keepalive_interval: must be more than 0".into());
        }
        if self.max_events_per_write == 0 {
            return Err("max_events_per_write: must be at least 1".into());
        }
        if self.retry.is_zero() || self.retry > self.reconnect_cap {
            return Err("retry: must be more than 0 and at most reconnect_cap".into());
        }
        check_streams(self.streams_per_connection)?;
        self.long_poll().validate()
    }

    /// A client's reconnect backoff: the window starts at `retry` (the server's `retry:`, as
    /// an EventSource honours it) and doubles per failure up to `reconnect_cap`.
    pub fn backoff(&self, retry: Duration) -> backoff::BackoffConfig {
        backoff::BackoffConfig {
            base: retry.max(Duration::from_millis(1)),
            cap: self.reconnect_cap.max(retry),
            max_attempts: self.reconnect_max_attempts,
        }
    }

    /// The long-poll options of the server and publisher this transport reuses.
    pub fn long_poll(&self) -> LongPollConfig {
        LongPollConfig {
            retention_messages: self.retention_messages,
            max_body_bytes: self.max_body_bytes,
            publish_batch: self.publish_batch,
            reconnect_max_attempts: self.reconnect_max_attempts,
            http: self.http,
            streams_per_connection: self.streams_per_connection,
            ..LongPollConfig::default()
        }
    }
}

/// Every option, for `transport-bench list`.
pub const OPTIONS: &[OptionDoc] = &[
    OptionDoc {
        key: "keepalive_interval",
        default: "\"15s\"",
        help: "a comment line after this much silence (idle cost)",
    },
    OptionDoc {
        key: "retry",
        default: "\"100ms\"",
        help: "the retry: the server announces; clients wait this long before reconnecting",
    },
    OptionDoc {
        key: "data_encoding",
        default: "\"base64\"",
        help: "payload in data:: base64 | text (UTF-8 payloads without CR/LF)",
    },
    OptionDoc {
        key: "retention_messages",
        default: "100000",
        help: "messages retained per topic; an older Last-Event-ID gets a gone event",
    },
    OptionDoc {
        key: "max_body_bytes",
        default: "1048576",
        help: "largest publish body (413 above it)",
    },
    OptionDoc {
        key: "publish_batch",
        default: "256",
        help: "most messages per publish POST (as long-poll's)",
    },
    OptionDoc {
        key: "max_events_per_write",
        default: "256",
        help: "most events the server writes with one flush",
    },
    OptionDoc {
        key: "reconnect_max_attempts",
        default: "25",
        help: "consecutive failed reconnects before a client gives up (0: never)",
    },
    OptionDoc {
        key: "reconnect_cap",
        default: "\"1s\"",
        help: "largest reconnect window; it starts at the retry: and doubles per failure (full jitter)",
    },
    OptionDoc {
        key: "http",
        default: "\"1.1\"",
        help: "HTTP version of the clients: \"1.1\" or \"2\" (h2 by ALPN under TLS, h2c with prior knowledge without); a list sweeps both, tagged http=1.1|2",
    },
    OptionDoc {
        key: "streams_per_connection",
        default: "100",
        help: "with http = \"2\": subscribers sharing one connection, one event stream each (1..256; a gated subscriber has its own)",
    },
];
