//! [`WebKind`]: the web patterns a browser page can subscribe with, and the transport each one
//! is: on our servers and on nginx + Nchan, whose endpoints the page speaks too (its channel
//! info, message-id resume and `ws+meta.nchan` frames). Scenario validation and the browser
//! transport both ask it, so it sits apart from both.

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
    /// A `fetch` loop of Nchan long polls, resumed by `If-Modified-Since`/`If-None-Match`.
    NchanLongPoll,
    /// `EventSource` on Nchan's subscriber location.
    NchanSse,
    /// `WebSocket` on Nchan's subscriber location (`ws+meta.nchan`).
    NchanWebSocket,
}

impl WebKind {
    /// Every web pattern, in the order error messages list them.
    pub const ALL: [WebKind; 6] = [
        WebKind::LongPoll,
        WebKind::WebSocket,
        WebKind::Sse,
        WebKind::NchanLongPoll,
        WebKind::NchanWebSocket,
        WebKind::NchanSse,
    ];

    /// The pattern of `kind`, if a browser can subscribe to it.
    pub fn of_kind(kind: TransportKind) -> Option<WebKind> {
        match kind {
            TransportKind::LongPoll => Some(WebKind::LongPoll),
            TransportKind::Sse => Some(WebKind::Sse),
            TransportKind::WebSocket => Some(WebKind::WebSocket),
            TransportKind::NchanLongPoll => Some(WebKind::NchanLongPoll),
            TransportKind::NchanSse => Some(WebKind::NchanSse),
            TransportKind::NchanWebSocket => Some(WebKind::NchanWebSocket),
            TransportKind::RawTcp
            | TransportKind::PullLog
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
            WebKind::NchanLongPoll => TransportKind::NchanLongPoll,
            WebKind::NchanSse => TransportKind::NchanSse,
            WebKind::NchanWebSocket => TransportKind::NchanWebSocket,
        }
    }

    /// Whether each subscriber holds an HTTP/1.1 request open (a poll or a stream), so that
    /// Chromium's six connections per origin cap the subscribers of one page.
    pub fn holds_http(self) -> bool {
        !matches!(self, WebKind::WebSocket | WebKind::NchanWebSocket)
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
