//! Meaning of `[browser]`: browser subscriber runs beside the Rust-client runs of the web
//! transports, each error located at its value.
//!
//! ```toml
//! [browser]
//! subscribers = [1, 7]                # subscribers in one page, swept like `subscribers`
//! transports = ["long-poll", "sse"]   # default: every web transport the scenario runs
//! ```

use toml::Spanned;

use super::located::{Located, distinct, in_range};
use super::raw::RawBrowser;
use crate::browser::WebKind;
use crate::registry::TransportKind;
use crate::scenario::model::BrowserRuns;

/// Largest subscriber count of one browser page.
const MAX_SUBSCRIBERS: i64 = 1000;

fn allowed() -> String {
    WebKind::names().join(", ")
}

/// `[browser]`, given the scenario's transports and topic count.
pub(super) fn browser(
    raw: Option<Spanned<RawBrowser>>,
    transports: &[TransportKind],
    topics: u32,
    faults: bool,
) -> Result<Option<BrowserRuns>, Located> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let span = raw.span();
    if faults {
        // The page's subscribers report a broken connection instead of resuming, so every
        // fault would fail the browser runs rather than measure recovery.
        return Err(Located::at(
            span,
            "[browser] cannot be combined with [[faults]]: browser subscribers do not resume \
             after a broken connection",
        ));
    }
    let raw = raw.into_inner();
    let subscribers = match &raw.subscribers {
        Some(list) => distinct(list, "[browser] subscribers", |c, span| {
            in_range(c.0, span, "[browser] subscribers", 1, MAX_SUBSCRIBERS)
        })?,
        None => vec![1],
    };
    if let Some(&min) = subscribers.iter().min()
        && min < topics
    {
        let at = raw.subscribers.as_ref().map_or(span.clone(), Spanned::span);
        return Err(Located::at(
            at,
            format!("[browser] subscribers must each be >= topics ({topics}), got {min}"),
        ));
    }
    let kinds = match &raw.transports {
        Some(list) => listed(list, transports)?,
        None => transports
            .iter()
            .copied()
            .filter(|&k| WebKind::of_kind(k).is_some())
            .collect(),
    };
    if kinds.is_empty() {
        return Err(Located::at(
            span,
            format!(
                "[browser] needs a web transport in `transports`; allowed: {}",
                allowed()
            ),
        ));
    }
    Ok(Some(BrowserRuns {
        subscribers,
        transports: kinds,
    }))
}

/// `[browser] transports`: web transports the scenario runs, each once.
fn listed(
    list: &Spanned<Vec<Spanned<String>>>,
    transports: &[TransportKind],
) -> Result<Vec<TransportKind>, Located> {
    let mut kinds = Vec::new();
    for name in list.get_ref() {
        let n = name.get_ref();
        let kind = TransportKind::from_name(n)
            .filter(|&k| WebKind::of_kind(k).is_some())
            .ok_or_else(|| {
                Located::at(
                    name.span(),
                    format!("`{n}` has no browser subscriber; allowed: {}", allowed()),
                )
            })?;
        if !transports.contains(&kind) {
            return Err(Located::at(
                name.span(),
                format!("[browser] names `{n}`, which `transports` does not run"),
            ));
        }
        if kinds.contains(&kind) {
            return Err(Located::at(
                name.span(),
                format!("[browser] lists `{n}` twice"),
            ));
        }
        kinds.push(kind);
    }
    if kinds.is_empty() {
        return Err(Located::at(
            list.span(),
            format!(
                "[browser] transports must not be empty; allowed: {}",
                allowed()
            ),
        ));
    }
    Ok(kinds)
}
