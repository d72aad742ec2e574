//! The options of the three NATS transports (`[transport.nats-core]`, `[transport.nats-push]`,
//! `[transport.nats-pull]`): where nats-server comes from, and the product's own knobs for
//! JetStream consumers (the pull fetch's `batch`/`expires`/`max_bytes`, the push consumer's
//! `flow_control`/`idle_heartbeat`/`max_ack_pending`, and the ack policy of both).
//!
//! Each transport has its own table type so that a knob of one pattern is an unknown key in
//! another's table (serde's `flatten` cannot be combined with `deny_unknown_fields`, so the two
//! server options are repeated in each type and read through [`ServerOptions`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use transport_core::OptionDoc;

/// How a JetStream consumer acknowledges (NATS `AckPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AckPolicy {
    /// Every message is acknowledged: the server redelivers any not acknowledged in `ack_wait`.
    Explicit,
    /// Acknowledging a message acknowledges every earlier one: one ack per delivery unit.
    All,
    /// No acks: the server forgets a message once sent (what is lost in flight stays lost).
    None,
}

impl AckPolicy {
    pub(crate) fn to_nats(self) -> async_nats::jetstream::consumer::AckPolicy {
        use async_nats::jetstream::consumer::AckPolicy as A;
        match self {
            AckPolicy::Explicit => A::Explicit,
            AckPolicy::All => A::All,
            AckPolicy::None => A::None,
        }
    }
}

/// What every NATS transport's table says about the server.
pub trait ServerOptions {
    /// The nats-server executable.
    fn program(&self) -> &str;
    /// How long it may take to answer after starting.
    fn startup_timeout(&self) -> Duration;
    /// How many times a client reconnects before its subscription ends.
    fn max_reconnects(&self) -> usize;
}

macro_rules! server_options {
    ($ty:ty) => {
        impl ServerOptions for $ty {
            fn program(&self) -> &str {
                &self.nats_server
            }
            fn startup_timeout(&self) -> Duration {
                self.startup_timeout
            }
            fn max_reconnects(&self) -> usize {
                self.max_reconnects
            }
        }
    };
}

/// `[transport.nats-core]`: core subjects, no knobs beyond the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoreConfig {
    /// The nats-server executable (a bare name is looked up on `PATH`).
    pub nats_server: String,
    /// How long nats-server may take to answer after starting.
    #[serde(with = "transport_core::duration")]
    pub startup_timeout: Duration,
    /// Reconnect attempts before a client gives up (0: never gives up).
    pub max_reconnects: usize,
}

/// `[transport.nats-push]`: a durable JetStream push consumer per subscriber.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// The nats-server executable.
    pub nats_server: String,
    /// How long nats-server may take to answer after starting.
    #[serde(with = "transport_core::duration")]
    pub startup_timeout: Duration,
    /// Reconnect attempts before a client gives up (0: never gives up).
    pub max_reconnects: usize,
    /// Flow control: the server pauses at its pending limit until the client answers.
    pub flow_control: bool,
    /// Idle heartbeats from the server (needed by flow control); "0s" turns them off.
    #[serde(with = "transport_core::duration")]
    pub idle_heartbeat: Duration,
    /// Messages sent but not yet acknowledged before the server stops pushing.
    pub max_ack_pending: i64,
    /// How messages are acknowledged.
    pub ack_policy: AckPolicy,
    /// How long the server waits for an ack before it redelivers.
    #[serde(with = "transport_core::duration")]
    pub ack_wait: Duration,
    /// Messages the stream keeps (in memory; the oldest are discarded past this).
    pub stream_max_msgs: i64,
    /// Publishes awaiting the stream's ack before `publish` waits for the oldest.
    pub publish_window: usize,
}

/// `[transport.nats-pull]`: a durable JetStream pull consumer per subscriber.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PullConfig {
    /// The nats-server executable.
    pub nats_server: String,
    /// How long nats-server may take to answer after starting.
    #[serde(with = "transport_core::duration")]
    pub startup_timeout: Duration,
    /// Reconnect attempts before a client gives up (0: never gives up).
    pub max_reconnects: usize,
    /// Messages asked for by one pull request (Kafka's `max.poll.records`).
    pub batch: usize,
    /// How long one pull request is held open at the server (Kafka's `fetch.max.wait.ms`).
    #[serde(with = "transport_core::duration")]
    pub expires: Duration,
    /// Bytes one pull request may return, 0 for no limit (Kafka's `fetch.max.bytes`).
    pub max_bytes: usize,
    /// How messages are acknowledged.
    pub ack_policy: AckPolicy,
    /// How long the server waits for an ack before it redelivers.
    #[serde(with = "transport_core::duration")]
    pub ack_wait: Duration,
    /// Messages the stream keeps (in memory; the oldest are discarded past this).
    pub stream_max_msgs: i64,
    /// Publishes awaiting the stream's ack before `publish` waits for the oldest.
    pub publish_window: usize,
}

server_options!(CoreConfig);
server_options!(PushConfig);
server_options!(PullConfig);

const PROGRAM: &str = "nats-server";
const STARTUP: Duration = Duration::from_secs(20);
const RECONNECTS: usize = 60;
const ACK_WAIT: Duration = Duration::from_secs(5);
const STREAM_MAX_MSGS: i64 = 1_000_000;
const PUBLISH_WINDOW: usize = 256;

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            nats_server: PROGRAM.into(),
            startup_timeout: STARTUP,
            max_reconnects: RECONNECTS,
        }
    }
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            nats_server: PROGRAM.into(),
            startup_timeout: STARTUP,
            max_reconnects: RECONNECTS,
            flow_control: true,
            idle_heartbeat: Duration::from_secs(5),
            max_ack_pending: 1000,
            ack_policy: AckPolicy::Explicit,
            ack_wait: ACK_WAIT,
            stream_max_msgs: STREAM_MAX_MSGS,
            publish_window: PUBLISH_WINDOW,
        }
    }
}

impl Default for PullConfig {
    fn default() -> Self {
        PullConfig {
            nats_server: PROGRAM.into(),
            startup_timeout: STARTUP,
            max_reconnects: RECONNECTS,
            batch: 200,
            expires: Duration::from_secs(5),
            max_bytes: 0,
            ack_policy: AckPolicy::Explicit,
            ack_wait: ACK_WAIT,
            stream_max_msgs: STREAM_MAX_MSGS,
            publish_window: PUBLISH_WINDOW,
        }
    }
}

fn check_common(program: &str, startup: Duration) -> Result<(), String> {
    if program.is_empty() {
        return Err("nats_server must name an executable".into());
    }
    if startup.is_zero() {
        return Err("startup_timeout must be > 0".into());
    }
    Ok(())
}

fn check_stream(ack_wait: Duration, max_msgs: i64, window: usize) -> Result<(), String> {
    if ack_wait < Duration::from_millis(100) {
        return Err("ack_wait must be >= 100ms".into());
    }
    if max_msgs < 1 {
        return Err("stream_max_msgs must be >= 1".into());
    }
    if window == 0 || window > 1_000_000 {
        return Err("publish_window must be 1..=1000000".into());
    }
    Ok(())
}

impl CoreConfig {
    /// Checks ranges serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        check_common(&self.nats_server, self.startup_timeout)
    }
}

impl PushConfig {
    /// Checks ranges and combinations serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        check_common(&self.nats_server, self.startup_timeout)?;
        check_stream(self.ack_wait, self.stream_max_msgs, self.publish_window)?;
        if self.flow_control && self.idle_heartbeat.is_zero() {
            return Err(
                "flow_control = true needs idle_heartbeat > 0 (nats-server refuses it)".into(),
            );
        }
        if !self.idle_heartbeat.is_zero() && self.idle_heartbeat < Duration::from_millis(100) {
            return Err("idle_heartbeat must be 0s or >= 100ms".into());
        }
        if self.max_ack_pending < 1 {
            return Err("max_ack_pending must be >= 1".into());
        }
        Ok(())
    }
}

impl PullConfig {
    /// Checks ranges serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        check_common(&self.nats_server, self.startup_timeout)?;
        check_stream(self.ack_wait, self.stream_max_msgs, self.publish_window)?;
        if self.batch == 0 || self.batch > 1_000_000 {
            return Err("batch must be 1..=1000000".into());
        }
        if self.expires < Duration::from_millis(100) {
            return Err("expires must be >= 100ms (async-nats' floor for a held pull)".into());
        }
        if self.max_bytes != 0 && self.max_bytes < 1024 {
            return Err("max_bytes must be 0 (no limit) or >= 1024".into());
        }
        Ok(())
    }
}

const SERVER_DOCS: [OptionDoc; 4] = [
    OptionDoc {
        key: "address",
        default: "(none: start nats-server)",
        help: "HOST:PORT of a nats-server someone else runs (as `run --server`; JetStream on for push and pull); nothing is started",
    },
    OptionDoc {
        key: "nats_server",
        default: "\"nats-server\"",
        help: "the nats-server executable (Debian package nats-server)",
    },
    OptionDoc {
        key: "startup_timeout",
        default: "\"20s\"",
        help: "how long nats-server may take to answer after starting",
    },
    OptionDoc {
        key: "max_reconnects",
        default: "60",
        help: "reconnect attempts before a client's subscription ends; 0 never gives up",
    },
];

const STREAM_DOCS: [OptionDoc; 4] = [
    OptionDoc {
        key: "ack_policy",
        default: "\"explicit\"",
        help: "\"explicit\" (ack every message), \"all\" (one ack per delivery unit) or \"none\"",
    },
    OptionDoc {
        key: "ack_wait",
        default: "\"5s\"",
        help: "how long the server waits for an ack before it redelivers, >= 100ms",
    },
    OptionDoc {
        key: "stream_max_msgs",
        default: "1000000",
        help: "messages the memory-stored stream keeps; the oldest are discarded past this",
    },
    OptionDoc {
        key: "publish_window",
        default: "256",
        help: "publishes awaiting the stream's ack before a publish waits for the oldest",
    },
];

/// `[transport.nats-core]` options, for `list`.
pub const CORE_OPTIONS: &[OptionDoc] = &SERVER_DOCS;

/// `[transport.nats-push]` options, for `list`.
pub const PUSH_OPTIONS: &[OptionDoc] = &[
    SERVER_DOCS[0],
    SERVER_DOCS[1],
    SERVER_DOCS[2],
    SERVER_DOCS[3],
    OptionDoc {
        key: "flow_control",
        default: "true",
        help: "JetStream push flow control: the server pauses until the client answers its flow-control message (needs idle_heartbeat > 0)",
    },
    OptionDoc {
        key: "idle_heartbeat",
        default: "\"5s\"",
        help: "idle heartbeat the server sends a quiet push consumer; \"0s\" turns it off",
    },
    OptionDoc {
        key: "max_ack_pending",
        default: "1000",
        help: "messages delivered but not acknowledged before the server stops pushing, >= 1",
    },
    STREAM_DOCS[0],
    STREAM_DOCS[1],
    STREAM_DOCS[2],
    STREAM_DOCS[3],
];

/// `[transport.nats-pull]` options, for `list`.
pub const PULL_OPTIONS: &[OptionDoc] = &[
    SERVER_DOCS[0],
    SERVER_DOCS[1],
    SERVER_DOCS[2],
    SERVER_DOCS[3],
    OptionDoc {
        key: "batch",
        default: "200",
        help: "messages one pull request asks for (Kafka's max.poll.records), 1..=1000000",
    },
    OptionDoc {
        key: "expires",
        default: "\"5s\"",
        help: "how long one pull request is held at the server (Kafka's fetch.max.wait.ms), >= 100ms",
    },
    OptionDoc {
        key: "max_bytes",
        default: "0",
        help: "bytes one pull request may return (Kafka's fetch.max.bytes); 0 for no limit, else >= 1024",
    },
    STREAM_DOCS[0],
    STREAM_DOCS[1],
    STREAM_DOCS[2],
    STREAM_DOCS[3],
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        CoreConfig::default().validate().unwrap();
        PushConfig::default().validate().unwrap();
        PullConfig::default().validate().unwrap();
    }

    #[test]
    fn flow_control_needs_heartbeats() {
        let c = PushConfig {
            idle_heartbeat: Duration::ZERO,
            ..PushConfig::default()
        };
        let err = c.validate().unwrap_err();
        assert!(
            err.contains("flow_control") && err.contains("idle_heartbeat"),
            "{err}"
        );
    }

    #[test]
    fn every_field_is_documented() {
        let keys = |docs: &[OptionDoc]| docs.iter().map(|d| d.key).collect::<Vec<_>>();
        for (json, docs) in [
            (serde_json_keys(&PushConfig::default()), PUSH_OPTIONS),
            (serde_json_keys(&PullConfig::default()), PULL_OPTIONS),
            (serde_json_keys(&CoreConfig::default()), CORE_OPTIONS),
        ] {
            for k in json {
                assert!(keys(docs).contains(&k.as_str()), "{k} undocumented");
            }
        }
    }

    fn serde_json_keys<T: Serialize>(v: &T) -> Vec<String> {
        let text = toml_keys(v);
        text.lines()
            .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim().to_owned()))
            .collect()
    }

    fn toml_keys<T: Serialize>(v: &T) -> String {
        toml::to_string(v).unwrap()
    }
}
