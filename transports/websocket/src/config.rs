//! Options of `[transport.websocket]`: what a deployment tunes (coalescing, the per-connection
//! send queue and its slow-consumer policy, the resume buffer, keepalive, the message size limit,
//! reconnect backoff), with defaults a real server would ship.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig as WsConfig;
use transport_core::OptionDoc;

/// What the server does when a subscriber's send queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlowConsumer {
    /// Close the subscriber with 1008 (policy violation). It reconnects and resumes from the
    /// topic buffer, so nothing is lost while the buffer still holds its position.
    #[default]
    Disconnect,
    /// Make the publisher wait until the subscriber's queue has room: backpressure reaches the
    /// publishers' TCP connections.
    Block,
}

/// Options of the WebSocket transport.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSocketConfig {
    /// Pack messages already queued for a subscriber into one frame.
    pub coalesce: bool,
    /// Largest coalesced frame payload (position header and length prefixes included). A single
    /// message larger than this still goes out, alone in its frame.
    pub coalesce_max_bytes: usize,
    /// Messages queued per subscriber connection before the slow-consumer policy applies.
    pub send_queue_messages: usize,
    /// The slow-consumer policy.
    pub slow_consumer: SlowConsumer,
    /// Messages each topic keeps so a reconnecting subscriber can resume with `from=`.
    pub resume_buffer_messages: usize,
    /// Message bytes each topic keeps for resuming, at most (the newest message always stays).
    pub resume_buffer_bytes: usize,
    /// How often the server pings each connection.
    #[serde(with = "transport_core::duration")]
    pub ping_interval: Duration,
    /// How long a ping may go unanswered before the server closes the connection (1011). A
    /// write that makes no progress for `ping_interval + pong_timeout` also counts as dead.
    #[serde(with = "transport_core::duration")]
    pub pong_timeout: Duration,
    /// Largest message a publisher may send; a larger one closes its connection with 1009.
    pub max_message_bytes: usize,
    /// First reconnect window of both clients; doubles per failed attempt, and each delay is
    /// uniform in 0..window (full jitter). Named and defaulted as in every other transport, so
    /// recovery times compare patterns, not settings; `reconnect_initial_backoff` is accepted.
    #[serde(with = "transport_core::duration", alias = "reconnect_initial_backoff")]
    pub reconnect_base: Duration,
    /// Cap on the reconnect window; `reconnect_max_backoff` is accepted.
    #[serde(with = "transport_core::duration", alias = "reconnect_max_backoff")]
    pub reconnect_cap: Duration,
    /// Consecutive failed reconnect attempts after which a client gives up.
    pub reconnect_max_attempts: u32,
    /// How long either side waits for the peer's half of a close handshake.
    #[serde(with = "transport_core::duration")]
    pub close_timeout: Duration,
    /// Read buffer a publisher's connection on the server, and each client, allocates up front
    /// (tungstenite's own default, 128 KiB): a publisher sends a stream of data frames, and
    /// reading them in large chunks keeps the server's receive cost per message low.
    pub read_buffer_bytes: usize,
    /// Read buffer of a subscriber's connection on the server. A subscriber sends only control
    /// frames (pongs of at most 131 bytes, a close), so 1 KiB fits every one; a larger frame
    /// grows the buffer to its size on demand. With tungstenite's 128 KiB here a server held
    /// 141 KB per idle subscriber, 10× the other patterns' servers: a library default, not the
    /// pattern's cost. Set it to 131072 to measure that default.
    pub subscriber_read_buffer_bytes: usize,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            coalesce: false,
            coalesce_max_bytes: 64 * 1024,
            send_queue_messages: 4096,
            slow_consumer: SlowConsumer::Disconnect,
            resume_buffer_messages: 65_536,
            resume_buffer_bytes: 64 * 1024 * 1024,
            ping_interval: Duration::from_secs(15),
            pong_timeout: Duration::from_secs(10),
            max_message_bytes: 1024 * 1024,
            reconnect_base: transport_core::backoff::DEFAULT_BASE,
            reconnect_cap: transport_core::backoff::DEFAULT_CAP,
            reconnect_max_attempts: transport_core::backoff::DEFAULT_MAX_ATTEMPTS,
            close_timeout: Duration::from_secs(1),
            read_buffer_bytes: 128 * 1024,
            subscriber_read_buffer_bytes: 1024,
        }
    }
}

impl WebSocketConfig {
    /// Checks ranges serde cannot; the message names the option.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("coalesce_max_bytes", self.coalesce_max_bytes),
            ("send_queue_messages", self.send_queue_messages),
            ("resume_buffer_messages", self.resume_buffer_messages),
            ("resume_buffer_bytes", self.resume_buffer_bytes),
            ("max_message_bytes", self.max_message_bytes),
            ("read_buffer_bytes", self.read_buffer_bytes),
            (
                "subscriber_read_buffer_bytes",
                self.subscriber_read_buffer_bytes,
            ),
        ];
        for (key, v) in positive {
            if v == 0 {
                return Err(format!("{key} must be > 0"));
            }
        }
        if self.max_message_bytes > u32::MAX as usize {
            return Err("max_message_bytes must fit the 4-byte length prefix".into());
        }
        for (key, d) in [
            ("ping_interval", self.ping_interval),
            ("pong_timeout", self.pong_timeout),
            ("close_timeout", self.close_timeout),
            ("reconnect_cap", self.reconnect_cap),
        ] {
            if d.is_zero() {
                return Err(format!("{key} must be > 0"));
            }
        }
        if self.reconnect_base > self.reconnect_cap {
            return Err("reconnect_base must be <= reconnect_cap".into());
        }
        Ok(())
    }

    /// tungstenite's settings for a connection that accepts messages up to `max_message_bytes`:
    /// larger frames and messages fail the read before their payload is buffered.
    pub(crate) fn tungstenite(&self, max_message_bytes: usize) -> WsConfig {
        self.tungstenite_reading(self.read_buffer_bytes, max_message_bytes)
    }

    /// The same with a read buffer of `read_buffer_bytes`.
    pub(crate) fn tungstenite_reading(
        &self,
        read_buffer_bytes: usize,
        max_message_bytes: usize,
    ) -> WsConfig {
        WsConfig::default()
            .read_buffer_size(read_buffer_bytes)
            .max_message_size(Some(max_message_bytes))
            .max_frame_size(Some(max_message_bytes))
    }

    /// The clients' reconnect backoff.
    pub(crate) fn backoff(&self) -> transport_core::BackoffConfig {
        transport_core::BackoffConfig {
            base: self.reconnect_base,
            cap: self.reconnect_cap,
            max_attempts: self.reconnect_max_attempts,
        }
    }

    /// How long a connection may stay silent (no frame at all, pings included) before the
    /// client, or a stalled write before the server, treats it as dead.
    pub(crate) fn dead_after(&self) -> Duration {
        self.ping_interval.saturating_add(self.pong_timeout)
    }
}

/// Documentation of every option, for `transport-bench list`.
pub(crate) const OPTIONS: &[OptionDoc] = &[
    OptionDoc {
        key: "coalesce",
        default: "false",
        help: "pack messages already queued for a subscriber into one frame",
    },
    OptionDoc {
        key: "coalesce_max_bytes",
        default: "65536",
        help: "largest coalesced frame payload in bytes (> 0)",
    },
    OptionDoc {
        key: "send_queue_messages",
        default: "4096",
        help: "messages queued per subscriber connection before the slow-consumer policy applies (> 0)",
    },
    OptionDoc {
        key: "slow_consumer",
        default: "\"disconnect\"",
        help: "full send queue: \"disconnect\" (close 1008, client resumes) or \"block\" (publishers wait)",
    },
    OptionDoc {
        key: "resume_buffer_messages",
        default: "65536",
        help: "messages kept per topic for resuming subscribers (> 0); older positions are refused with close 4001",
    },
    OptionDoc {
        key: "resume_buffer_bytes",
        default: "67108864",
        help: "message bytes kept per topic for resuming subscribers (> 0)",
    },
    OptionDoc {
        key: "ping_interval",
        default: "\"15s\"",
        help: "server ping period",
    },
    OptionDoc {
        key: "pong_timeout",
        default: "\"10s\"",
        help: "unanswered ping closes the connection (1011) after this",
    },
    OptionDoc {
        key: "max_message_bytes",
        default: "1048576",
        help: "largest published message; larger closes the publisher with 1009",
    },
    OptionDoc {
        key: "reconnect_base",
        default: "\"10ms\"",
        help: "first reconnect window of publishers and subscribers; doubles per failure, full jitter (uniform in 0..window); alias reconnect_initial_backoff",
    },
    OptionDoc {
        key: "reconnect_cap",
        default: "\"1s\"",
        help: "cap on the reconnect window; alias reconnect_max_backoff",
    },
    OptionDoc {
        key: "reconnect_max_attempts",
        default: "25",
        help: "consecutive failed reconnects before a client gives up",
    },
    OptionDoc {
        key: "close_timeout",
        default: "\"1s\"",
        help: "wait for the peer's close frame at most this long",
    },
    OptionDoc {
        key: "read_buffer_bytes",
        default: "131072",
        help: "read buffer of a publisher's server connection and of each client (> 0)",
    },
    OptionDoc {
        key: "subscriber_read_buffer_bytes",
        default: "1024",
        help: "read buffer of a subscriber's server connection: control frames only, grows for a larger frame (> 0)",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_durations_and_kebab_case() {
        let c: WebSocketConfig = toml::from_str(
            "coalesce = true\nslow_consumer = \"block\"\nping_interval = \"250ms\"\n",
        )
        .unwrap();
        assert!(c.coalesce);
        assert_eq!(c.slow_consumer, SlowConsumer::Block);
        assert_eq!(c.ping_interval, Duration::from_millis(250));
        assert_eq!(c.pong_timeout, WebSocketConfig::default().pong_timeout);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        assert!(toml::from_str::<WebSocketConfig>("coalesce_bytes = 3").is_err());
        let small: WebSocketConfig = toml::from_str("read_buffer_bytes = 4096").unwrap();
        assert_eq!(small.tungstenite(1024).read_buffer_size, 4096);
        assert_eq!(small.tungstenite(1024).max_frame_size, Some(1024));
        let zero: WebSocketConfig = toml::from_str("read_buffer_bytes = 0").unwrap();
        assert!(zero.validate().unwrap_err().contains("read_buffer_bytes"));
        assert!(toml::from_str::<WebSocketConfig>("slow_consumer = \"drop\"").is_err());
        assert!(toml::from_str::<WebSocketConfig>("ping_interval = \"soon\"").is_err());
        let zero = WebSocketConfig {
            send_queue_messages: 0,
            ..WebSocketConfig::default()
        };
        assert!(zero.validate().unwrap_err().contains("send_queue_messages"));
    }

    #[test]
    fn default_round_trips_through_toml() {
        let d = WebSocketConfig::default();
        d.validate().unwrap();
        let text = toml::to_string(&d).unwrap();
        assert_eq!(toml::from_str::<WebSocketConfig>(&text).unwrap(), d);
    }
}
