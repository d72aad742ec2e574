//! Request header profiles: the HTTP floor, or what a browser's `fetch` really sends, so the
//! header overhead per poll reflects deployments rather than a minimal client.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use transport_core::TransportError;

use crate::codec::{BINARY_TYPE, JSON_TYPE};
use crate::config::{ConnectionMode, Encoding, HeaderProfile, HttpVersion, LongPollConfig};

/// What a request is for; the browser profile differs slightly between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A GET poll or head request.
    Poll,
    /// A POST of messages.
    Publish,
}

/// A desktop Chrome on Linux, late 2025.
const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// A cookie value of exactly `len` bytes, shaped like analytics and session cookies.
fn cookie(len: usize) -> String {
    let mut out = String::with_capacity(len + 40);
    let mut i = 0u32;
    while out.len() < len {
        out.push_str(&format!(
            "c{i}=GA1.1.{:010}.1732700000; ",
            1_234_567_u64 * u64::from(i + 1)
        ));
        i += 1;
    }
    out.truncate(len);
    // Field values must not end in whitespace (parsers strip it, which would change the size).
    if out.ends_with(' ') || out.ends_with(';') {
        out.pop();
        out.push('x');
    }
    out
}

fn value(v: &str) -> Result<HeaderValue, TransportError> {
    HeaderValue::from_str(v).map_err(|_| TransportError::Config(format!("bad header value {v:?}")))
}

/// The headers of every request for `purpose`, sent to `host` (`host:port`).
pub(crate) fn build(
    config: &LongPollConfig,
    host: &str,
    purpose: Purpose,
    mode: ConnectionMode,
) -> Result<HeaderMap, TransportError> {
    let mut h = HeaderMap::new();
    h.insert(header::HOST, value(host)?);
    let json = config.encoding == Encoding::Json;
    let body_type = if json { JSON_TYPE } else { BINARY_TYPE };
    match config.headers {
        HeaderProfile::Minimal => {
            // Binary is the server's default reply, so a minimal binary client sends no Accept.
            if json {
                h.insert(header::ACCEPT, HeaderValue::from_static(JSON_TYPE));
            }
        }
        HeaderProfile::Browser => {
            let accept = if json {
                "application/json, text/plain, */*"
            } else {
                "application/octet-stream, */*"
            };
            let origin = format!("http://{host}");
            let fields: [(HeaderName, String); 11] = [
                (header::USER_AGENT, USER_AGENT.into()),
                (header::ACCEPT, accept.into()),
                (header::ACCEPT_LANGUAGE, "en-US,en;q=0.9".into()),
                (header::ACCEPT_ENCODING, "gzip, deflate, br, zstd".into()),
                (header::REFERER, format!("{origin}/app/")),
                (
                    HeaderName::from_static("sec-ch-ua"),
                    "\"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"".into(),
                ),
                (HeaderName::from_static("sec-ch-ua-mobile"), "?0".into()),
                (
                    HeaderName::from_static("sec-ch-ua-platform"),
                    "\"Linux\"".into(),
                ),
                (
                    HeaderName::from_static("sec-fetch-site"),
                    "same-origin".into(),
                ),
                (HeaderName::from_static("sec-fetch-mode"), "cors".into()),
                (HeaderName::from_static("sec-fetch-dest"), "empty".into()),
            ];
            for (name, v) in fields {
                h.insert(name, value(&v)?);
            }
            if purpose == Purpose::Publish {
                // Browsers send Origin on every POST, same-origin or not.
                h.insert(header::ORIGIN, value(&origin)?);
            }
            if config.cookie_bytes > 0 {
                h.insert(
                    header::COOKIE,
                    value(&cookie(config.cookie_bytes as usize))?,
                );
            }
            if mode == ConnectionMode::KeepAlive {
                h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
            }
        }
    }
    if purpose == Purpose::Publish {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(body_type));
    }
    if mode == ConnectionMode::PerRequest {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if config.http == HttpVersion::Http2 {
        // HTTP/2 names the host in `:authority` and has no connection-level headers.
        super::h2::strip_h1_headers(&mut h);
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_has_the_exact_size() {
        for len in [1, 2, 17, 33, 512, 4096] {
            let c = cookie(len);
            assert_eq!(c.len(), len);
            assert!(HeaderValue::from_str(&c).is_ok());
            assert!(!c.ends_with(' '));
        }
    }

    #[test]
    fn browser_profile_is_heavier_than_minimal() {
        let size = |h: &HeaderMap| -> usize {
            h.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum()
        };
        let minimal = LongPollConfig::default();
        let browser = LongPollConfig {
            headers: HeaderProfile::Browser,
            ..minimal.clone()
        };
        let m = build(
            &minimal,
            "127.0.0.1:1",
            Purpose::Poll,
            ConnectionMode::KeepAlive,
        )
        .unwrap();
        let b = build(
            &browser,
            "127.0.0.1:1",
            Purpose::Poll,
            ConnectionMode::KeepAlive,
        )
        .unwrap();
        assert_eq!(m.len(), 1, "minimal binary poll sends only Host");
        assert!(size(&b) > size(&m) + 512 + 300, "{}", size(&b));
        let p = build(
            &browser,
            "h:1",
            Purpose::Publish,
            ConnectionMode::PerRequest,
        )
        .unwrap();
        assert_eq!(p[header::CONTENT_TYPE], BINARY_TYPE);
        assert_eq!(p[header::CONNECTION], "close");
        assert!(p.contains_key(header::ORIGIN));
    }
}
