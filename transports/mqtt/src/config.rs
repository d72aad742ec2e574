//! The options of `mqtt` (`[transport.mqtt]`): the managed mosquitto's program and queue
//! limits, the clients' QoS and session, keep-alive and reconnect policy.

use std::time::Duration;

use rumqttc::QoS;
use serde::{Deserialize, Serialize};
use transport_core::{BackoffConfig, OptionDoc};

/// Options of `mqtt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// The mosquitto executable (a bare name is looked up on `PATH`).
    pub mosquitto: String,
    /// How long mosquitto may take to answer after starting.
    #[serde(with = "transport_core::duration")]
    pub startup_timeout: Duration,
    /// QoS of publishes and subscriptions: 0 (at most once) or 1 (at least once, acknowledged).
    pub qos: u8,
    /// `false`: the broker keeps each subscriber's session (subscription and queued QoS 1
    /// messages) across a broken connection, so it resumes; `true`: a new session each time.
    pub clean_session: bool,
    /// CONNECT keep-alive; a client that sent nothing for half of it sends PINGREQ.
    #[serde(with = "transport_core::duration")]
    pub keep_alive: Duration,
    /// mosquitto `max_inflight_messages`: unacknowledged QoS 1 messages per client in flight.
    pub max_inflight_messages: u32,
    /// mosquitto `max_queued_messages`: QoS 1 messages queued per client beyond those in
    /// flight; the broker drops what exceeds it (counted as loss).
    pub max_queued_messages: u32,
    /// Reconnect backoff of publishers and subscribers after a broken connection.
    pub reconnect: BackoffConfig,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            mosquitto: "mosquitto".into(),
            startup_timeout: Duration::from_secs(20),
            qos: 1,
            clean_session: false,
            keep_alive: Duration::from_secs(60),
            // mosquitto's own defaults.
            max_inflight_messages: 20,
            max_queued_messages: 1000,
            reconnect: BackoffConfig::default(),
        }
    }
}

impl MqttConfig {
    /// Checks ranges serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.qos > 1 {
            return Err(format!(
                "qos must be 0 or 1 (got {}; QoS 2 is not measured here)",
                self.qos
            ));
        }
        let secs = self.keep_alive.as_secs();
        if secs < 2 || secs > u64::from(u16::MAX) || self.keep_alive.subsec_nanos() != 0 {
            return Err("keep_alive must be whole seconds, 2s..=65535s".into());
        }
        if self.max_inflight_messages == 0 {
            return Err("max_inflight_messages must be >= 1".into());
        }
        self.reconnect.validate("reconnect.")
    }

    /// The QoS as the codec spells it.
    pub fn qos(&self) -> QoS {
        if self.qos == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        }
    }

    /// Whether a subscriber gets back what was published while it was away.
    pub fn resumes(&self) -> bool {
        self.qos == 1 && !self.clean_session
    }
}

/// Every option, for `transport-bench list`.
pub const OPTIONS: &[OptionDoc] = &[
    OptionDoc {
        key: "address",
        default: "(none: start mosquitto)",
        help: "HOST:PORT of an MQTT broker someone else runs (as `run --server`); nothing is started",
    },
    OptionDoc {
        key: "mosquitto",
        default: "\"mosquitto\"",
        help: "the mosquitto executable (Debian package mosquitto)",
    },
    OptionDoc {
        key: "startup_timeout",
        default: "\"20s\"",
        help: "how long mosquitto may take to answer after starting",
    },
    OptionDoc {
        key: "qos",
        default: "1",
        help: "QoS of publishes and subscriptions: 0 (at most once) or 1 (acknowledged, queued per subscriber)",
    },
    OptionDoc {
        key: "clean_session",
        default: "false",
        help: "true: a new session per connection (loss across a reconnect, counted); false: the broker keeps the subscriber's queue",
    },
    OptionDoc {
        key: "keep_alive",
        default: "\"60s\"",
        help: "CONNECT keep-alive, whole seconds 2s..=65535s; PINGREQ after half of it without sending",
    },
    OptionDoc {
        key: "max_inflight_messages",
        default: "20",
        help: "mosquitto max_inflight_messages: unacknowledged QoS 1 messages per client (>= 1)",
    },
    OptionDoc {
        key: "max_queued_messages",
        default: "1000",
        help: "mosquitto max_queued_messages: QoS 1 messages queued per client; beyond it the broker drops (0 = no limit)",
    },
    OptionDoc {
        key: "reconnect",
        default: "{ base = \"10ms\", cap = \"1s\", max_attempts = 25 }",
        help: "clients' reconnect backoff; max_attempts = 0 never gives up",
    },
];
