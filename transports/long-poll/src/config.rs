//! The `[transport.long-poll]` options: one table configures both the server and the clients,
//! so a scenario describes a whole deployment (hold time, batching limit, connection reuse,
//! header weight, body encoding, retention).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use transport_core::OptionDoc;
use transport_core::backoff::{self, BackoffConfig};

/// How subscribers use TCP connections for their polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionMode {
    /// One keep-alive connection per subscriber, reused for every poll.
    #[default]
    KeepAlive,
    /// A new TCP connection for every poll (`Connection: close`), the classic deployment behind
    /// proxies that do not keep upstream connections alive.
    PerRequest,
}

/// Which request headers clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeaderProfile {
    /// Only what HTTP/1.1 needs (`Host`, plus `Accept`/`Content-Type` where the encoding needs
    /// them): the floor of HTTP overhead.
    #[default]
    Minimal,
    /// What a browser's `fetch` sends: user agent, accept headers, client hints, fetch metadata
    /// and a cookie of `cookie_bytes`, so header overhead reflects real deployments.
    Browser,
}

/// How message batches are encoded in request and response bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// Length-prefixed frames (see the crate README): compact, no copying of payloads.
    #[default]
    Binary,
    /// JSON with base64 payloads, as typical web APIs carry opaque bytes.
    Json,
}

/// When a subscriber sends the server's epoch back with a poll (see [`crate::epoch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EpochCheck {
    /// On the first poll of each new connection only: a restart always breaks the connection,
    /// so a kept-alive connection costs nothing per poll.
    #[default]
    PerConnection,
    /// On every poll, for HTTP proxies that pool upstream connections (one client connection
    /// may then reach a restarted server).
    PerPoll,
}

/// Which HTTP the clients speak (`http = "1.1" | "2"`). Servers speak both: with TLS they offer
/// `h2` and `http/1.1` by ALPN, without it they take HTTP/2 with prior knowledge (h2c) from a
/// client that opens with the HTTP/2 preface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// HTTP/1.1: one request at a time per connection.
    #[default]
    Http11,
    /// HTTP/2: requests of several clients multiplexed over one connection, HPACK headers.
    Http2,
}

impl HttpVersion {
    /// The allowed values, as a scenario writes them.
    pub const ALLOWED: &'static str = "\"1.1\" or \"2\"";

    /// As a scenario writes it (and as runs are tagged): `1.1` or `2`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http11 => "1.1",
            HttpVersion::Http2 => "2",
        }
    }

    /// Parses `1.1` or `2`; the error names the allowed values.
    pub fn parse(text: &str) -> Result<HttpVersion, String> {
        match text {
            "1.1" => Ok(HttpVersion::Http11),
            "2" => Ok(HttpVersion::Http2),
            other => Err(format!(
                "http: {other:?} is not supported; allowed values: {}",
                HttpVersion::ALLOWED
            )),
        }
    }
}

impl Serialize for HttpVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for HttpVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<HttpVersion, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = HttpVersion;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "http = {}", HttpVersion::ALLOWED)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HttpVersion, E> {
                HttpVersion::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
    }
}

/// Most streams a server lets one HTTP/2 connection have open at once (its
/// `SETTINGS_MAX_CONCURRENT_STREAMS`), and so the most clients that may share one.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 256;

/// Options of the long-poll transport (`[transport.long-poll]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LongPollConfig {
    /// How long the server holds a poll with nothing to deliver before an empty reply.
    #[serde(with = "transport_core::duration")]
    pub hold_timeout: Duration,
    /// Most messages in one poll response (the client asks for this many; the server caps it).
    pub max_messages: u32,
    /// Connection reuse for polls.
    pub connection: ConnectionMode,
    /// Request header profile.
    pub headers: HeaderProfile,
    /// Size of the `Cookie` header value in the browser profile.
    pub cookie_bytes: u32,
    /// Body encoding of publishes and poll responses.
    pub encoding: Encoding,
    /// Status of an empty poll reply: 204 (no body) or 200 (an empty batch).
    pub empty_status: u16,
    /// Messages retained per topic; a cursor older than that gets 410 Gone.
    pub retention_messages: u32,
    /// Largest request body the server accepts (413 above it); poll responses stop adding
    /// messages at this size too (one message is always sent).
    pub max_body_bytes: u32,
    /// Most messages a publisher puts in one POST. A publisher never waits to fill a batch: it
    /// sends whatever queued while its previous POST was out, so at low rates every message
    /// gets its own request. 1 forces one request per message, as a naive web client does.
    pub publish_batch: u32,
    /// First reconnect window of both clients; doubles per consecutive failure, full jitter.
    #[serde(with = "transport_core::duration")]
    pub reconnect_base: Duration,
    /// Largest reconnect window.
    #[serde(with = "transport_core::duration")]
    pub reconnect_cap: Duration,
    /// Consecutive failed attempts after which a client gives up (0: never).
    pub reconnect_max_attempts: u32,
    /// When subscribers send the server's epoch back, to detect a restarted server.
    pub epoch_check: EpochCheck,
    /// The HTTP version clients speak.
    pub http: HttpVersion,
    /// With `http = "2"`: how many subscribers of a run share one connection, each with its
    /// poll as one stream (a subscriber whose reads are gated has one of its own).
    pub streams_per_connection: u32,
}

impl Default for LongPollConfig {
    fn default() -> Self {
        LongPollConfig {
            hold_timeout: Duration::from_secs(30),
            max_messages: 1000,
            connection: ConnectionMode::KeepAlive,
            headers: HeaderProfile::Minimal,
            cookie_bytes: 512,
            encoding: Encoding::Binary,
            empty_status: 204,
            retention_messages: 100_000,
            max_body_bytes: 1 << 20,
            publish_batch: 256,
            reconnect_base: backoff::DEFAULT_BASE,
            reconnect_cap: backoff::DEFAULT_CAP,
            reconnect_max_attempts: backoff::DEFAULT_MAX_ATTEMPTS,
            epoch_check: EpochCheck::PerConnection,
            http: HttpVersion::Http11,
            streams_per_connection: DEFAULT_STREAMS_PER_CONNECTION,
        }
    }
}

/// Subscribers per HTTP/2 connection by default: the 100 concurrent streams most servers and
/// browsers allow one connection.
pub const DEFAULT_STREAMS_PER_CONNECTION: u32 = 100;

/// The longest hold a client may ask for (`timeout_ms`); longer is a 400.
pub const MAX_HOLD: Duration = Duration::from_secs(3600);

impl LongPollConfig {
    /// Checks ranges serde cannot; the message names the option.
    pub fn validate(&self) -> Result<(), String> {
        if self.hold_timeout > MAX_HOLD {
            return Err(format!(
                "hold_timeout: at most {}",
                humantime::format_duration(MAX_HOLD)
            ));
        }
        if self.max_messages == 0 {
            return Err("max_messages: must be at least 1".into());
        }
        if self.retention_messages == 0 {
            return Err("retention_messages: must be at least 1".into());
        }
        if !(64..=(1 << 30)).contains(&self.max_body_bytes) {
            return Err("max_body_bytes: must be between 64 and 1073741824".into());
        }
        if self.publish_batch == 0 {
            return Err("publish_batch: must be at least 1".into());
        }
        if self.cookie_bytes > 16 * 1024 {
            return Err("cookie_bytes: at most 16384 (servers reject larger headers)".into());
        }
        if self.empty_status != 204 && self.empty_status != 200 {
            return Err(format!(
                "empty_status: {} is not allowed; use 204 or 200",
                self.empty_status
            ));
        }
        check_streams(self.streams_per_connection)?;
        if self.http == HttpVersion::Http2 && self.connection == ConnectionMode::PerRequest {
            return Err(
                "connection: \"per-request\" needs http = \"1.1\" (HTTP/2 clients keep \
                        their connection)"
                    .into(),
            );
        }
        self.backoff().validate("reconnect_")
    }

    /// The clients' reconnect backoff.
    pub fn backoff(&self) -> BackoffConfig {
        BackoffConfig {
            base: self.reconnect_base,
            cap: self.reconnect_cap,
            max_attempts: self.reconnect_max_attempts,
        }
    }
}

/// Checks `streams_per_connection` (shared with the SSE options).
pub fn check_streams(streams: u32) -> Result<(), String> {
    if !(1..=MAX_STREAMS_PER_CONNECTION).contains(&streams) {
        return Err(format!(
            "streams_per_connection: must be between 1 and {MAX_STREAMS_PER_CONNECTION}"
        ));
    }
    Ok(())
}

/// Documentation of every option, for `transport-bench list`.
pub const OPTIONS: &[OptionDoc] = &[
    OptionDoc {
        key: "hold_timeout",
        default: "\"30s\"",
        help: "how long the server holds an empty poll before replying empty (max 1h)",
    },
    OptionDoc {
        key: "max_messages",
        default: "1000",
        help: "most messages per poll response",
    },
    OptionDoc {
        key: "connection",
        default: "\"keep-alive\"",
        help: "poll connections: \"keep-alive\" (reuse) or \"per-request\" (new TCP connection per poll)",
    },
    OptionDoc {
        key: "headers",
        default: "\"minimal\"",
        help: "request headers: \"minimal\" or \"browser\" (user agent, accept headers, cookie)",
    },
    OptionDoc {
        key: "cookie_bytes",
        default: "512",
        help: "Cookie header size in the browser profile (max 16384)",
    },
    OptionDoc {
        key: "encoding",
        default: "\"binary\"",
        help: "bodies: \"binary\" (length-prefixed frames) or \"json\" (base64 payloads)",
    },
    OptionDoc {
        key: "empty_status",
        default: "204",
        help: "status of an empty poll reply: 204 or 200",
    },
    OptionDoc {
        key: "retention_messages",
        default: "100000",
        help: "messages kept per topic; older cursors get 410 Gone and count as lost",
    },
    OptionDoc {
        key: "max_body_bytes",
        default: "1048576",
        help: "largest accepted request body (413 above); also caps poll response size",
    },
    OptionDoc {
        key: "publish_batch",
        default: "256",
        help: "most messages per publish POST, taken from what queued during the previous POST (1 = one request per message)",
    },
    OptionDoc {
        key: "reconnect_base",
        default: "\"10ms\"",
        help: "first retry window after a failed poll or publish; doubles per failure, full jitter (uniform in 0..window)",
    },
    OptionDoc {
        key: "reconnect_cap",
        default: "\"1s\"",
        help: "largest retry window",
    },
    OptionDoc {
        key: "reconnect_max_attempts",
        default: "25",
        help: "consecutive failed attempts before a client gives up (0 = never)",
    },
    OptionDoc {
        key: "epoch_check",
        default: "\"per-connection\"",
        help: "when a subscriber sends the server epoch back to detect a restart: \"per-connection\" (first poll on each new connection) or \"per-poll\" (every poll; for pooling HTTP proxies)",
    },
    OptionDoc {
        key: "http",
        default: "\"1.1\"",
        help: "HTTP version of the clients: \"1.1\" or \"2\" (h2 by ALPN under TLS, h2c with prior knowledge without); a list sweeps both, tagged http=1.1|2",
    },
    OptionDoc {
        key: "streams_per_connection",
        default: "100",
        help: "with http = \"2\": subscribers sharing one connection, one stream each (1..256; a gated subscriber has its own)",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_and_validate() {
        let c = LongPollConfig::default();
        c.validate().unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"hold_timeout\":\"30s\""), "{json}");
        let back: LongPollConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        // Every option is documented, and nothing documented is missing from the config.
        let value = serde_json::to_value(&c).unwrap();
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut documented: Vec<&str> = OPTIONS.iter().map(|o| o.key).collect();
        keys.sort_unstable();
        documented.sort_unstable();
        assert_eq!(keys, documented);
    }

    #[test]
    fn parses_kebab_case_and_human_durations() {
        let c: LongPollConfig = serde_json::from_str(
            r#"{"hold_timeout":"250ms","connection":"per-request","headers":"browser","encoding":"json","empty_status":200,"epoch_check":"per-poll"}"#,
        )
        .unwrap();
        assert_eq!(c.hold_timeout, Duration::from_millis(250));
        assert_eq!(c.connection, ConnectionMode::PerRequest);
        assert_eq!(c.headers, HeaderProfile::Browser);
        assert_eq!(c.encoding, Encoding::Json);
        assert_eq!(c.epoch_check, EpochCheck::PerPoll);
        c.validate().unwrap();
    }

    #[test]
    fn rejects_unknown_keys_bad_values_and_ranges() {
        assert!(serde_json::from_str::<LongPollConfig>(r#"{"hold":"1s"}"#).is_err());
        assert!(serde_json::from_str::<LongPollConfig>(r#"{"connection":"pooled"}"#).is_err());
        let err = serde_json::from_str::<LongPollConfig>(r#"{"hold_timeout":"soon"}"#).unwrap_err();
        assert!(err.to_string().contains("30s"), "{err}");
        let c = LongPollConfig {
            empty_status: 404,
            ..LongPollConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("empty_status"));
    }

    #[test]
    fn http_versions_parse_and_others_name_the_allowed_values() {
        let c: LongPollConfig = serde_json::from_str(r#"{"http":"2"}"#).unwrap();
        assert_eq!(c.http, HttpVersion::Http2);
        c.validate().unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains(r#""http":"2""#), "{json}");
        let err = serde_json::from_str::<LongPollConfig>(r#"{"http":"3"}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains(r#"http: "3" is not supported; allowed values: "1.1" or "2""#),
            "{err}"
        );
        let per_request = LongPollConfig {
            http: HttpVersion::Http2,
            connection: ConnectionMode::PerRequest,
            ..LongPollConfig::default()
        };
        assert!(per_request.validate().unwrap_err().contains("per-request"));
        let none = LongPollConfig {
            streams_per_connection: 0,
            ..LongPollConfig::default()
        };
        assert!(
            none.validate()
                .unwrap_err()
                .contains("streams_per_connection")
        );
    }
}
