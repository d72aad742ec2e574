//! The browser part of a run's result: what a run whose subscribers were a Chromium page
//! rests on.

use serde::{Deserialize, Serialize};

/// What a browser run's figures rest on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BrowserResult {
    /// `Browser.getVersion`'s product (`Chrome/…`); null if no browser started.
    pub chromium: Option<String>,
    /// Smallest step of `performance.now()` measured in the page, ns: receive times are no
    /// finer than this. Null if no page loaded.
    pub timer_resolution_ns: Option<u64>,
    /// How far a page time mapped onto the harness clock may be off (half the shortest DevTools
    /// round trip of the calibration, plus the timer resolution), ns; null if no page loaded.
    pub clock_uncertainty_ns: Option<u64>,
    /// Where subscriber-side wire bytes come from: `server` (the browser's sockets are not the
    /// harness's, so they are the server's bytes minus the publishers'), `kernel` (a server
    /// that counts nothing, such as nginx: the kernel's counters of the browser's connections,
    /// read by `sock_diag`), or `unavailable` (neither could be read).
    pub subscriber_wire_counted_at: String,
}
