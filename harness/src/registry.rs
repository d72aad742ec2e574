//! The one place the harness learns which transports exist: an enum and a `match`.
//!
//! Everything transport-specific in the harness is written once, generically over
//! [`transport_core::Transport`], as a [`Visit`]or; [`TransportKind::visit`] is the only `match`
//! that names concrete transports. Adding a transport means adding a variant, its name, and its
//! arm here.

use std::fmt;

use serde::{Deserialize, Serialize};
use transport_core::Transport;

/// Every registered transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKind {
    /// Length-prefixed frames over TCP, fanned out by the server: the physical floor.
    RawTcp,
    /// HTTP long polling: held GETs answered by publishes, one HTTP exchange per delivery.
    LongPoll,
    /// WebSockets: one upgraded connection per client, the server pushes binary frames.
    #[serde(rename = "websocket")]
    WebSocket,
    /// A Kafka-protocol partitioned log: producers append batches, consumers fetch.
    PullLog,
    /// Server-Sent Events: one held `text/event-stream` response per subscriber, resumable
    /// with `Last-Event-ID`; publishing as for long polling.
    Sse,
    /// nginx + Nchan's long-poll subscriber (a managed program, not our server).
    NchanLongPoll,
    /// nginx + Nchan's EventSource subscriber.
    NchanSse,
    /// nginx + Nchan's WebSocket subscriber.
    #[serde(rename = "nchan-websocket")]
    NchanWebSocket,
    /// Redis Pub/Sub: push, no state on the server, at-most-once (a managed redis-server).
    RedisPubsub,
    /// Redis Streams: a log pulled with held `XREAD BLOCK` reads, resumed from the last id.
    RedisStreams,
    /// MQTT on mosquitto: push with per-subscriber state on the broker (QoS 1, sessions).
    Mqtt,
    /// NATS core subjects on a managed nats-server: push, at-most-once.
    NatsCore,
    /// A NATS JetStream push consumer per subscriber, flow-controlled and acked.
    NatsPush,
    /// A NATS JetStream pull consumer per subscriber, fetching in batches.
    NatsPull,
}

/// Generic code to run for one concrete transport type.
pub trait Visit {
    /// What the visit produces.
    type Output;
    /// Runs for transport `T`.
    fn visit<T: Transport>(self) -> Self::Output;
}

/// The physical floor every other transport is read against (run first, compared to).
pub const FLOOR: TransportKind = TransportKind::RawTcp;

impl TransportKind {
    /// All registered transports, in report order (the raw-TCP floor first).
    pub const ALL: &'static [TransportKind] = &[
        TransportKind::RawTcp,
        TransportKind::LongPoll,
        TransportKind::WebSocket,
        TransportKind::PullLog,
        TransportKind::Sse,
        TransportKind::NchanLongPoll,
        TransportKind::NchanSse,
        TransportKind::NchanWebSocket,
        TransportKind::RedisPubsub,
        TransportKind::RedisStreams,
        TransportKind::Mqtt,
        TransportKind::NatsCore,
        TransportKind::NatsPush,
        TransportKind::NatsPull,
    ];

    /// Runs `v` with the concrete transport type of `self`.
    pub fn visit<V: Visit>(self, v: V) -> V::Output {
        match self {
            TransportKind::RawTcp => v.visit::<transport_raw_tcp::RawTcp>(),
            TransportKind::LongPoll => v.visit::<transport_long_poll::LongPoll>(),
            TransportKind::WebSocket => v.visit::<transport_websocket::WebSocket>(),
            TransportKind::PullLog => v.visit::<transport_pull_log::PullLog>(),
            TransportKind::Sse => v.visit::<transport_sse::Sse>(),
            TransportKind::NchanLongPoll => v.visit::<transport_nchan::NchanLongPoll>(),
            TransportKind::NchanSse => v.visit::<transport_nchan::NchanSse>(),
            TransportKind::NchanWebSocket => v.visit::<transport_nchan::NchanWebSocket>(),
            TransportKind::RedisPubsub => v.visit::<transport_redis::RedisPubSub>(),
            TransportKind::RedisStreams => v.visit::<transport_redis::RedisStreams>(),
            TransportKind::Mqtt => v.visit::<transport_mqtt::Mqtt>(),
            TransportKind::NatsCore => v.visit::<transport_nats::NatsCore>(),
            TransportKind::NatsPush => v.visit::<transport_nats::NatsPush>(),
            TransportKind::NatsPull => v.visit::<transport_nats::NatsPull>(),
        }
    }

    /// The registered name, as written in scenarios and on the command line.
    pub fn name(self) -> &'static str {
        struct Name;
        impl Visit for Name {
            type Output = &'static str;
            fn visit<T: Transport>(self) -> &'static str {
                T::NAME
            }
        }
        self.visit(Name)
    }

    /// Whether a scenario that lists no transports runs this one: our own servers do; a
    /// program we did not write (nginx, nats-server) runs only when a scenario names it, since it needs a
    /// program installed and cannot run in-process or be restarted by a fault.
    pub fn runs_by_default(self) -> bool {
        struct Own;
        impl Visit for Own {
            type Output = bool;
            fn visit<T: Transport>(self) -> bool {
                T::server_kinds().contains(&transport_core::ServerKind::InProcess)
            }
        }
        self.visit(Own)
    }

    /// Whether runs of this transport can use TLS (`[tls]`): our own servers and clients all
    /// go through the core's TLS plumbing; a program we did not write (nginx) is not set up
    /// for it.
    pub fn has_tls(self) -> bool {
        self.runs_by_default()
    }

    /// Whether its consumers ask for their data (a held poll, a fetch, a blocking read) rather
    /// than having the server send it unasked: the pull side of the article's argument.
    pub fn consumers_pull(self) -> bool {
        use TransportKind::*;
        match self {
            LongPoll | PullLog | NchanLongPoll | RedisStreams | NatsPull => true,
            RawTcp | WebSocket | Sse | NchanSse | NchanWebSocket | RedisPubsub | Mqtt
            | NatsCore | NatsPush => false,
        }
    }

    /// Looks a transport up by its registered name.
    pub fn from_name(name: &str) -> Option<TransportKind> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// The registered names, for error messages.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|k| k.name()).collect()
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for &k in TransportKind::ALL {
            assert_eq!(TransportKind::from_name(k.name()), Some(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.name()));
        }
    }

    #[test]
    fn the_floor_is_registered_first_under_its_name() {
        assert_eq!(TransportKind::ALL[0], FLOOR);
        assert_eq!(FLOOR.name(), <transport_raw_tcp::RawTcp as Transport>::NAME);
    }
}
