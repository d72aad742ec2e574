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
//! - [`kind`]: the web patterns a page subscribes with; [`figures`]: the page's timer and clock
//!   figures and the Chromium version, as the results read them.
//!
//! Wire bytes: the browser's sockets are not the harness's, so a browser run's subscriber-side
//! bytes are derived from the server's counting wrapper (server bytes minus the publishers').

pub mod cdp;
pub mod figures;
pub mod kind;
pub mod process;
pub mod session;
pub mod transport;

pub use figures::{CLOCK_UNCERTAINTY, TIMER_RESOLUTION, version};
pub use kind::WebKind;
pub use process::locate;
pub use transport::InBrowser;
