//! The harness's side of `serve --metrics`: fetch a metrics URL once, within a deadline, and
//! read it into a [`ServerSnapshot`]. The runner scrapes child and remote servers at connect,
//! window start and window end, and reports deltas.
//!
//! hyper's client is used directly (one connection per scrape, HTTP/1.1, plain `http://`):
//! a scrape is rare, and a higher-level client would pull in a TLS stack we do not need.

use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::parse::ParseError;
use super::snapshot::ServerSnapshot;

/// Largest response accepted: far above any real exposition (a few KiB), small enough that a
/// wrong URL cannot make the harness buffer without bound.
const MAX_BODY_BYTES: usize = 16 << 20;

/// Why a scrape failed. Every variant names the URL.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The URL is not `http://HOST:PORT/PATH`.
    #[error("metrics URL `{url}` is not valid: {reason}; expected http://HOST:PORT/metrics")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No complete answer within the deadline.
    #[error("scraping {url} took longer than {after:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The deadline that passed.
        after: Duration,
    },
    /// Connecting, sending or reading failed.
    #[error("scraping {url}: {message}")]
    Io {
        /// The URL.
        url: String,
        /// The underlying error.
        message: String,
    },
    /// The server answered with a status other than 200.
    #[error("scraping {url}: HTTP status {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status received.
        status: StatusCode,
    },
    /// The answer is not exposition text of a transport-bench server.
    #[error("scraping {url}: {source}")]
    Parse {
        /// The URL.
        url: String,
        /// What the parser found.
        source: ParseError,
    },
}

/// Fetches `url` and parses it, all within `timeout`.
pub async fn scrape(url: &str, timeout: Duration) -> Result<ServerSnapshot, ScrapeError> {
    let text = tokio::time::timeout(timeout, fetch(url))
        .await
        .map_err(|_| ScrapeError::Timeout {
            url: url.to_owned(),
            after: timeout,
        })??;
    ServerSnapshot::from_text(&text).map_err(|source| ScrapeError::Parse {
        url: url.to_owned(),
        source,
    })
}

/// Checks that `url` is a plain `http://HOST:PORT/PATH` URL, as [`scrape`] needs.
pub fn parse_url(url: &str) -> Result<Uri, ScrapeError> {
    let bad = |reason: &str| ScrapeError::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
    if uri.scheme_str() != Some("http") {
        return Err(bad("only http:// is supported"));
    }
    match uri.authority() {
        Some(a) if a.port_u16().is_some() => Ok(uri),
        _ => Err(bad("no HOST:PORT")),
    }
}

async fn fetch(url: &str) -> Result<String, ScrapeError> {
    let uri = parse_url(url)?;
    let io_err = |e: &dyn std::fmt::Display| ScrapeError::Io {
        url: url.to_owned(),
        message: e.to_string(),
    };
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    let stream = TcpStream::connect(authority)
        .await
        .map_err(|e| io_err(&e))?;
    stream.set_nodelay(true).map_err(|e| io_err(&e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| io_err(&e))?;
    // The connection task ends when the response is read and `sender` is dropped.
    tokio::spawn(conn);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = Request::get(path)
        .header(hyper::header::HOST, authority)
        .body(Empty::<Bytes>::new())
        .map_err(|e| io_err(&e))?;
    let response = sender.send_request(request).await.map_err(|e| io_err(&e))?;
    if response.status() != StatusCode::OK {
        return Err(ScrapeError::Status {
            url: url.to_owned(),
            status: response.status(),
        });
    }
    let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| io_err(&e))?
        .to_bytes();
    String::from_utf8(body.to_vec()).map_err(|e| io_err(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_plain_http_with_a_port() {
        assert!(parse_url("http://127.0.0.1:9/metrics").is_ok());
        for bad in ["https://h:1/metrics", "http://h/metrics", "h:1", "::"] {
            let err = parse_url(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[tokio::test]
    async fn a_silent_server_times_out_and_a_closed_port_fails() {
        // Accepts the connection but never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let err = scrape(&url, Duration::from_millis(200)).await.unwrap_err();
        assert!(matches!(err, ScrapeError::Timeout { .. }), "{err}");
        drop(listener);
        let err = scrape(&url, Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(err, ScrapeError::Io { .. }), "{err}");
    }
}
