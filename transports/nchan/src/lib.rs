//! nginx with Nchan: one production pub/sub server that offers long polling, EventSource and
//! WebSocket subscribers on the same channel from the same C code, so the three web patterns
//! can be compared with the server held constant, and beside our own servers.
//!
//! Three transports, one server: [`NchanLongPoll`] (`nchan-long-poll`), [`NchanSse`]
//! (`nchan-sse`) and [`NchanWebSocket`] (`nchan-websocket`). Publishers `POST` each message to
//! `/pub/{channel}` ([`publisher`]); subscribers use `/sub/{channel}` with Nchan's message ids
//! for resume ([`channel`], [`longpoll`], [`sse`], [`websocket`]). The server is nginx, a
//! program we did not write: [`Transport::serve`] starts it as a managed program
//! ([`nginx`], on `transport_program`), so it cannot run inside the load generator's process,
//! and its sockets are not ours to count: server-side wire bytes are unavailable, while the
//! clients count every byte through `CountingIo` (on loopback, the server's bytes mirror them).
//! With `address` (or `run --server`), an Nchan someone else runs is used and nothing is started.

pub mod channel;
pub mod config;
pub mod longpoll;
pub mod nginx;
pub mod publisher;
pub mod sse;
pub mod websocket;

use tokio::net::TcpListener;
use transport_core::{
    Capabilities, ClientContext, OptionDoc, ServerContext, ServerKind, Transport, TransportError,
};

pub use config::NchanConfig;
pub use longpoll::NchanLongPollSubscriber;
pub use nginx::NchanServer;
pub use publisher::{Body, NchanPublisher};
pub use sse::NchanSseSubscriber;
pub use websocket::NchanWebSocketSubscriber;

/// Where an Nchan transport's server can be: a managed nginx, or someone else's.
const KINDS: &[ServerKind] = &[ServerKind::Program, ServerKind::Remote];

/// The parts every Nchan transport shares; each differs only in its subscriber and body.
macro_rules! nchan_transport {
    ($ty:ident, $name:literal, $sub:ty, $connect:path, $body:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $ty;

        impl Transport for $ty {
            const NAME: &'static str = $name;
            type Config = NchanConfig;
            type Server = NchanServer;
            type Publisher = NchanPublisher;
            type Subscriber = $sub;

            fn options() -> &'static [OptionDoc] {
                config::OPTIONS
            }

            fn capabilities() -> Capabilities {
                // Every subscriber resumes from the channel buffer by message id.
                Capabilities { resumes: true }
            }

            fn server_kinds() -> &'static [ServerKind] {
                KINDS
            }

            fn validate(config: &NchanConfig) -> Result<(), String> {
                config.validate()
            }

            fn preflight(config: &NchanConfig) -> Result<(), TransportError> {
                nginx::check(config)
            }

            async fn serve(
                config: &NchanConfig,
                listener: TcpListener,
                ctx: ServerContext,
            ) -> Result<NchanServer, TransportError> {
                nginx::start(config, listener, &ctx).await
            }

            async fn publisher(
                config: &NchanConfig,
                addr: &str,
                topic: &str,
                ctx: ClientContext,
            ) -> Result<NchanPublisher, TransportError> {
                publisher::connect(config, addr, topic, $body, ctx).await
            }

            async fn subscriber(
                config: &NchanConfig,
                addr: &str,
                topic: &str,
                ctx: ClientContext,
            ) -> Result<$sub, TransportError> {
                $connect(config, addr, topic, ctx).await
            }
        }
    };
}

nchan_transport!(
    NchanLongPoll,
    "nchan-long-poll",
    NchanLongPollSubscriber,
    longpoll::connect,
    Body::Binary,
    "Nchan's long-poll subscriber: one held GET per message, resumed by `If-Modified-Since`/`If-None-Match`."
);
nchan_transport!(
    NchanSse,
    "nchan-sse",
    NchanSseSubscriber,
    sse::connect,
    Body::Base64,
    "Nchan's EventSource subscriber: one streamed response, resumed by `Last-Event-ID`."
);
nchan_transport!(
    NchanWebSocket,
    "nchan-websocket",
    NchanWebSocketSubscriber,
    websocket::connect,
    Body::Binary,
    "Nchan's WebSocket subscriber (`ws+meta.nchan`), resumed by `last_event_id`."
);
