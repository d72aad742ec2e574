//! What a browser run leaves for its results beyond the messages: the names of the
//! distributions holding the page's timer resolution and clock uncertainty, and the product
//! string of the Chromium it drove. The browser transport records them; the reduction to
//! results reads them.

use std::sync::OnceLock;

/// Distribution holding the page's measured timer resolution, ns.
pub const TIMER_RESOLUTION: &str = "browser_timer_resolution_ns";
/// Distribution holding the clock-mapping uncertainty, ns.
pub const CLOCK_UNCERTAINTY: &str = "browser_clock_uncertainty_ns";

/// Set once, by the first page of the process.
static VERSION: OnceLock<String> = OnceLock::new();

/// Records the product string of a page's Chromium; the first one recorded stays.
pub(super) fn set_version(v: &str) {
    let _ = VERSION.get_or_init(|| v.to_owned());
}

/// The product string of the Chromium this process drove, once one started.
pub fn version() -> Option<&'static str> {
    VERSION.get().map(String::as_str)
}
