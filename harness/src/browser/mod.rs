//! Real browsers as subscribers: a headless Chromium page subscribes with the web platform's own
//! APIs (`fetch` loop for long-poll, `EventSource` for sse, `WebSocket` for websocket), decodes
//! each message's envelope in JavaScript and stamps it with the page's clock; the harness maps
//! those stamps onto its own clock and feeds them into the same audit and histograms as Rust
//! subscribers.
//!
//! - [`process`]: finding and owning the Chromium process.
//! - [`cdp`]: the small DevTools protocol client that drives it.
//! - [`session`]: the page (`page.html`), its clock calibration and report routing.
//! - [`transport`]: [`InBrowser<T>`], transport `T` with browser subscribers, which the runner
//!   runs like any transport.
//!
//! Wire bytes: the browser's sockets are not the harness's, so a browser run's subscriber-side
//! bytes are derived from the server's counting wrapper (server bytes minus the publishers').

pub mod cdp;
pub mod process;
pub mod session;
pub mod transport;

use std::sync::OnceLock;

use crate::registry::TransportKind;

pub use process::{CHROMIUM_ENV, LaunchError, locate};
pub use transport::{BrowserConfig, BrowserSubscriber, InBrowser};

/// Distribution holding the page's measured timer resolution, ns.
pub const TIMER_RESOLUTION: &str = "browser_timer_resolution_ns";
/// Distribution holding the clock-mapping uncertainty, ns.
pub const CLOCK_UNCERTAINTY: &str = "browser_clock_uncertainty_ns";

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
            TransportKind::RawTcp | TransportKind::PullLog => None,
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

static VERSION: OnceLock<String> = OnceLock::new();

fn set_version(v: &str) {
    let _ = VERSION.get_or_init(|| v.to_owned());
}

/// The product string of the Chromium this process drove, once one started.
pub fn version() -> Option<&'static str> {
    VERSION.get().map(String::as_str)
}
