//! [`WebKind`]: the web patterns a browser page can subscribe with, and the transport each one
//! is. Scenario validation and the browser transport both ask it, so it sits apart from both.

use crate::registry::TransportKind;

/// The web patterns a browser can subscribe with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebKind {
    /// A `fetch` loop of held polls.
    LongPoll,
    /// `EventSource`.
    Sse,
    /// `WebSocket`.
    WebSocket,
}

impl WebKind {
    /// Every web pattern, in the order error messages list them.
    pub const ALL: [WebKind; 3] = [WebKind::LongPoll, WebKind::WebSocket, WebKind::Sse];

    /// The pattern of `kind`, if a browser can subscribe to it.
    pub fn of_kind(kind: TransportKind) -> Option<WebKind> {
        match kind {
            TransportKind::LongPoll => Some(WebKind::LongPoll),
            TransportKind::Sse => Some(WebKind::Sse),
            TransportKind::WebSocket => Some(WebKind::WebSocket),
            // Nchan's endpoints need pages of their own (not written yet).
            TransportKind::RawTcp
            | TransportKind::PullLog
            | TransportKind::NchanLongPoll
            | TransportKind::NchanSse
            | TransportKind::NchanWebSocket
            // Brokers speak RESP and MQTT over TCP, which a page cannot open.
            | TransportKind::RedisPubsub
            | TransportKind::RedisStreams
            | TransportKind::Mqtt
            | TransportKind::NatsCore
            | TransportKind::NatsPush
            | TransportKind::NatsPull => None,
        }
    }

    /// The pattern of the transport registered as `name`, if a browser can subscribe to it.
    pub fn of(name: &str) -> Option<WebKind> {
        TransportKind::from_name(name).and_then(WebKind::of_kind)
    }

    /// Its transport.
    pub fn transport(self) -> TransportKind {
        match self {
            WebKind::LongPoll => TransportKind::LongPoll,
            WebKind::Sse => TransportKind::Sse,
            WebKind::WebSocket => TransportKind::WebSocket,
        }
    }

    /// The registered name of its transport.
    pub fn name(self) -> &'static str {
        self.transport().name()
    }

    /// The registered names of every web pattern's transport, for error messages.
    pub fn names() -> Vec<&'static str> {
        WebKind::ALL.iter().map(|k| k.name()).collect()
    }
}
